"""The admin site's plumbing (site, scoping, display helpers); each wing registers its own admin classes.

Django's autodiscovery imports only this package, so it imports every wing's admin modules.
"""

import promptlib.batches.admin  # noqa: F401
import promptlib.batches.admin_datasets  # noqa: F401
import promptlib.core.admin  # noqa: F401
import promptlib.core.admin_apikeys  # noqa: F401
import promptlib.experiments.admin  # noqa: F401
import promptlib.prompts.admin  # noqa: F401
import promptlib.providers.admin  # noqa: F401
