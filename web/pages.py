"""HTML pages of the dashboard. They carry no data: the browser fetches
everything from the JSON API (web/*_api.py and the other blueprints) and the /ws WebSocket, so these views
stay trivial and the page works the same behind any API implementation."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

# template_folder makes the pages render even when the app was created with
# Flask's default template folder; the app's own folder still wins on a clash.
bp = Blueprint("pages", __name__, template_folder="../templates")

DEFAULT_APP_NAME = "Miner Fleet"


def _app_name() -> str:
    return current_app.config.get("APP_NAME") or DEFAULT_APP_NAME


@bp.context_processor
def _alerts_context() -> dict[str, bool]:
    """has_alerts: whether this server has the alerts API, so pages show the bell (templates/_alerts.html).

    Why ask the URL map: an app without the alerts blueprint (an old build, the browser tests'
    fake API) would otherwise answer the bell's polls with 404s every 15 s.
    """
    return {"has_alerts": any(rule.rule == "/api/alerts" for rule in current_app.url_map.iter_rules())}


@bp.app_context_processor
def _nav_context() -> dict[str, object]:
    """has_endpoint(name): whether this app serves that page, so templates/_pages_nav.html lists only real pages.

    App-wide (not only this blueprint's views): a page served by another blueprint includes the same nav.
    """
    return {"has_endpoint": lambda name: name in current_app.view_functions}


@bp.app_context_processor
def _chart_range_context() -> dict[str, object]:
    """The chart ranges of services/chart_range.py for every page's range buttons (templates/panels/_chart.html).

    chart_ranges: the names (1h ... all), detail_chart_ranges: the miner dialog's shorter list,
    default_chart_range: the one pressed first, chart_range_spans(names): {name: seconds, "all": None}.
    """
    from services import chart_range

    return {"chart_ranges": chart_range.NAMES, "detail_chart_ranges": chart_range.DETAIL_NAMES,
            "default_chart_range": chart_range.DEFAULT, "chart_range_spans": chart_range.spans}


@bp.get("/")
def index():
    return render_template("index.html", app_name=_app_name())


@bp.get("/login")
def login():
    # POST /login (the password check and the session) lives in web/auth.py.
    return render_template("login.html", app_name=_app_name())


@bp.get("/automation")
def automation():
    """Rules and schedules, and which precedence layer decides now (static/js/automation.js)."""
    return render_template("automation.html", app_name=_app_name())


@bp.get("/energy")
def energy():
    """Electricity prices, break-even per miner and today's estimate (static/js/energy.js)."""
    return render_template("energy.html", app_name=_app_name())


@bp.get("/settings")
def settings():
    """Settings; for now its Integrations view: MQTT/Home Assistant and Prometheus (static/js/settings.js)."""
    return render_template("settings.html", app_name=_app_name())


@bp.get("/events")
def events():
    """The event log with filters and paging over the whole retention (static/js/events.js)."""
    return render_template("events.html", app_name=_app_name())


@bp.get("/pools")
def pools():
    """Pools & wallets: payout wallets, solo odds, shares per pool and the pool library (static/js/pools.js)."""
    return render_template("pools.html", app_name=_app_name())  # its range list: _chart_range_context


@bp.get("/miners")
def miners():
    """Every miner in one sortable, filterable table with bulk actions and CSV export (static/js/miners.js)."""
    return render_template("miners.html", app_name=_app_name())
