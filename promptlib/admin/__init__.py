import promptlib.admin.projects  # noqa: F401
import promptlib.admin.templates  # noqa: F401
from promptlib.admin import providers  # noqa: F401
from promptlib.admin import apikeys, experiments  # noqa: F401
