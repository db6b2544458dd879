"""The admin site's plumbing (site, scoping, display helpers); each wing registers its own admin classes.

Django's autodiscovery imports only this package, so it imports every wing's admin modules.
"""

import promptlib.batches.admin.batches  # noqa: F401
import promptlib.batches.admin.datasets  # noqa: F401
import promptlib.batches.admin.schedules  # noqa: F401
import promptlib.batches.admin.scorers  # noqa: F401
import promptlib.core.admin.apikeys  # noqa: F401
import promptlib.core.admin.projects  # noqa: F401
import promptlib.experiments.admin.experiments  # noqa: F401
import promptlib.experiments.admin.metrics  # noqa: F401
import promptlib.knowledge.admin.knowledge_bases  # noqa: F401
import promptlib.prompts.admin.templates  # noqa: F401
import promptlib.providers.admin  # noqa: F401
