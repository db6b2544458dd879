import promptlib.admin.projects  # noqa: F401
import promptlib.admin.templates  # noqa: F401
from promptlib.admin import (  # noqa: F401  # noqa: F401
    apikeys,
    batches,
    datasets,
    experiments,
    providers,  # noqa: F401
)
