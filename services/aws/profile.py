"""Moved to `services.aws_settings` (beside settings, below the client factory that needs it).

Kept only until every importer says `services.aws_settings`; nothing new imports this.
"""

from services.aws_settings import *  # noqa: F403
