"""Grid dispatch by an Energy Management System (DESIGN section 5; protocol in docs/EMS.md).

- request.py: strict parsing of the activate body.
- dispatch.py: the dispatch state (idle / active / stopped), persistence, silence rule, call log.
- measure.py: rated and measured fleet power, which miners count.
- service.py: EmsService, what the routes ask (status, detail, activate, deactivate, release).
AutoControl (services/autocontrol.py) feeds the dispatch into the PowerController
each tick; web/ems.py serves the routes through EmsService.
"""

from .dispatch import (ACTIVE, IDLE, STATE_KEY, STOPPED, EmsDispatcher, Outcome, fmt_kw)
from .measure import FleetPower, fleet_power
from .request import FIELD, BadActivation, parse_activation
from .service import EmsService

__all__ = ["ACTIVE", "IDLE", "STOPPED", "STATE_KEY", "EmsDispatcher", "Outcome", "fmt_kw", "FleetPower",
           "fleet_power", "FIELD", "BadActivation", "parse_activation", "EmsService"]
