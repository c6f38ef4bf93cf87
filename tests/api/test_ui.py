"""The web UI in a real browser: Debian's Chromium driven by Playwright, against the platform API served by
uvicorn on 127.0.0.1 over a real DuckDB project (``conftest.make_project`` plus a CSV of hostile names and
values). What the page shows is compared with what the API answers for the same request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright  # tideflow[dev]; Chromium: `make chromium` (part of make test)
from tests.api.conftest import KEY, Served, make_project

CHROMIUM = "/usr/bin/chromium"  # Debian's package; `make test` installs it (make chromium)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
HOSTILE_COLUMN = 'say "hi"; DROP TABLE x; --'
HOSTILE_VALUES = ['<img src=x onerror="window.__pwned=1">', "<script>window.__pwned=2</script>", "naïve 東京 ✓"]


@pytest.fixture(scope="module")
def project_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The API tests' project plus ``notes``: a CSV source whose names and values try to inject HTML."""
    root = make_project(tmp_path_factory.mktemp("ui") / "shop")
    header = f'id,"{HOSTILE_COLUMN.replace(chr(34), chr(34) * 2)}"\n'
    rows = "".join(f'{i},"{v.replace(chr(34), chr(34) * 2)}"\n' for i, v in enumerate(HOSTILE_VALUES, 1))
    (root / "data" / "notes.csv").write_text(header + rows, encoding="utf-8")
    (root / "datasets" / "notes.yaml").write_text("description: Notes with hostile text.\nconnection: files\n"
                                                  "path: notes.csv\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser, served: Served) -> Iterator[object]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    opened.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
    opened.problems = problems
    try:
        yield opened
    finally:
        context.close()


def api(served: Served, path: str) -> object:
    response = httpx.get(served.url + path, headers={"X-API-Key": KEY}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def sign_in(page, served: Served, hash_: str = "") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{served.url}/ui/{hash_}")
    page.fill("#api-key", KEY)
    page.click("#sign-in button[type=submit]")


def test_the_ui_is_served_without_a_key_with_a_strict_content_security_policy(served: Served) -> None:
    home = httpx.get(served.url + "/", follow_redirects=False)
    assert home.status_code == 307 and home.headers["location"] == "/ui/"
    for path in ("/ui/", "/ui/app.js", "/ui/flow.js", "/ui/dom.js", "/ui/style.css"):
        got = httpx.get(served.url + path)
        assert got.status_code == 200, path
        csp = got.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
        assert got.headers["x-content-type-options"] == "nosniff"
    assert "text/javascript" in httpx.get(served.url + "/ui/app.js").headers["content-type"]
    missing = httpx.get(served.url + "/ui/nope.js")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    # The data is not: the API still wants the key
    assert httpx.get(served.url + "/datasets").status_code == 401


def test_a_wrong_key_is_refused_and_the_right_one_shows_the_flow(page, served: Served) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{served.url}/ui/")
    page.fill("#api-key", "not-a-key")
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#sign-in-message:has-text('not one of the platform')")
    assert page.locator("svg.flow").count() == 0
    assert page.problems == ["console error: Failed to load resource: the server responded with a status of 401 "
                             "(Unauthorized)"]  # the refused call, as the browser logs it
    page.problems.clear()
    page.fill("#api-key", KEY)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("svg.flow")
    datasets = api(served, "/datasets")
    recipes = api(served, "/recipes")
    shown = set(page.locator("svg.flow g.node").evaluate_all("nodes => nodes.map(n => n.dataset.node)"))
    assert shown == {f"d:{d['name']}" for d in datasets} | {f"r:{r['name']}" for r in recipes}
    edges = sum(len(r["inputs"]) + len(r["outputs"]) for r in recipes)
    assert page.locator("svg.flow path.edge").count() == edges
    assert page.text_content("#project-name") == api(served, "/projects/current")["name"]
    # Every recipe is drawn right of its inputs and left of its outputs
    x = {n: page.locator(f"[data-node='{n}']").bounding_box()["x"] for n in shown}
    for r in recipes:
        assert all(x[f"d:{i}"] < x[f"r:{r['name']}"] for i in r["inputs"])
        assert all(x[f"r:{r['name']}"] < x[f"d:{o}"] for o in r["outputs"])
    assert page.problems == []


def test_a_dataset_shows_the_rows_the_api_previews(page, served: Served) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, served)
    page.click("[data-node='d:orders_clean']")
    page.wait_for_selector("#preview table")
    preview = api(served, "/datasets/orders_clean/preview?limit=20")
    header = page.locator("#preview .scroll table thead th").all_text_contents()
    assert header == preview["columns"]
    cells = page.locator("#preview .scroll table tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.querySelectorAll('td')].map(td => td.textContent))")
    expected = [["NULL" if row[c] is None else str(row[c]) for c in preview["columns"]] for row in preview["rows"]]
    # JavaScript prints numbers its own way (1.0 -> "1"): compare numbers as numbers
    assert len(cells) == len(expected) == preview["count"]
    for got_row, want_row in zip(cells, expected, strict=True):
        for got, want in zip(got_row, want_row, strict=True):
            try:
                number = float(want)
            except ValueError:
                assert got == want
            else:  # fractions show 12 significant digits, the exact value in the cell's tooltip
                assert float(got) == pytest.approx(number, rel=1e-11)
    assert "orders_clean" in page.text_content("#panel")
    shown = page.evaluate("""async () => {
        const {shown} = await import('./dom.js');
        const long = shown(3060.3699999999994);
        return [long.textContent, long.title, shown(0.25), shown(7), shown(null).textContent];
    }""")
    assert shown == ["3060.37", "3060.3699999999994", "0.25", "7", "NULL"]
    assert page.problems == []


def test_hostile_names_and_values_show_as_text_and_never_run(page, served: Served) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, served, "#/flow/dataset/notes")
    page.wait_for_selector("#preview table")
    assert HOSTILE_COLUMN in page.locator("#preview .scroll table thead th").all_text_contents()
    texts = page.locator("#preview .scroll table tbody td").all_text_contents()
    for value in HOSTILE_VALUES:
        assert value in texts
    assert page.locator("#preview img, #preview script").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert page.problems == []


def test_a_recipe_shows_its_explain_and_its_sql_in_another_dialect(page, served: Served) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, served, "#/flow/recipe/clean_orders")
    page.wait_for_selector("pre.sql")
    explain = api(served, "/recipes/clean_orders/explain")
    assert page.locator("pre.sql").first.text_content() == explain["sql"]["orders_clean"]
    assert explain["reason"] in page.text_content("#panel")
    assert ("no: up to date" if not explain["outdated_reason"] else f"yes: {explain['outdated_reason']}") \
        in page.text_content("#panel")
    page.select_option("#dialect", "postgres")
    page.wait_for_selector("#sql pre")
    sql = api(served, "/recipes/clean_orders/sql?dialect=postgres")["sql"]["orders_clean"]
    assert page.text_content("#sql pre") == sql
    spec = json.loads(page.locator("pre.json").text_content())
    assert spec == api(served, "/recipes/clean_orders")["spec"]
    assert page.problems == []


def test_a_build_started_from_the_ui_runs_and_shows_each_recipe(page, served: Served) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, served)
    page.wait_for_selector("#build-form")
    page.select_option("#build-targets", ["revenue_by_country"])
    page.select_option("#build-mode", "forced")
    page.click("#build-form button[type=submit]")
    page.wait_for_selector("#builds .card:first-child .badge.succeeded", timeout=60_000)
    build_id = page.url.rsplit("/", 1)[1]
    build = api(served, f"/builds/{build_id}")
    assert build["status"] == "succeeded" and build["mode"] == "forced" and build["targets"] == ["revenue_by_country"]
    rows = page.locator("#builds .card:first-child tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.querySelectorAll('td')].slice(0, 3).map(td => td.textContent))")
    assert rows == [[r["recipe"], r["engine"], r["status"]] for r in build["runs"]]
    assert {r[0] for r in rows} == {"clean_orders", "revenue_by_country"} and {r[2] for r in rows} == {"ok"}
    assert page.problems == []


def test_models_scenarios_and_services_pages_show_what_the_api_has(page, served: Served) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, served, "#/models/orders_model")
    page.wait_for_selector("#models button.activate")
    detail = api(served, "/models/orders_model")
    inactive = [v["version"] for v in detail["all_versions"] if not v["active"]]
    page.click(f"#models button.activate:has-text('Activate v{inactive[0]}')")
    page.wait_for_selector(f"#models button.activate:has-text('Activate v{detail['active_version']}')")
    assert api(served, "/models/orders_model")["active_version"] == inactive[0]
    assert "Leaderboard" in page.text_content("#models") and "Drift evaluations" in page.text_content("#models")
    board = api(served, "/lab/orders_model/leaderboard")
    trial = board["trials"][0]  # type: ignore[index]
    cell = page.locator("#models td span[title]").first  # params as the CLI prints them, exact in the tooltip
    assert json.loads(cell.get_attribute("title")) == trial["params"]
    assert all(f"{k}=" in cell.text_content() for k in trial["params"])
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no page-wide table

    page.goto(f"{served.url}/ui/#/scenarios")
    page.wait_for_selector("#scenarios button.run")
    before = len(api(served, "/scenarios/notify/runs"))
    page.click("#scenarios button.run:not([disabled])")
    page.wait_for_selector("text=Runs of notify")
    page.wait_for_function("document.querySelectorAll('#scenarios .badge').length > 0")
    runs = api(served, "/scenarios/notify/runs")
    assert len(runs) == before + 1 and runs[0]["trigger"] == "api"

    page.goto(f"{served.url}/ui/#/services/scoring")
    page.wait_for_selector("text=Replica history of scoring")
    decisions = api(served, "/services/scoring?decisions=50")["decisions"]
    assert page.locator("#services .card:nth-child(2) tbody tr").count() == len(decisions) > 0
    assert "broken" in page.text_content("#services")  # an invalid service file is listed with its error
    assert page.problems == []


def test_a_key_revoked_while_signed_in_sends_back_to_sign_in(page, served: Served) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, served)
    page.wait_for_selector("svg.flow")
    page.evaluate("sessionStorage.setItem('tideflow.key', 'revoked-key')")
    page.goto(f"{served.url}/ui/#/builds")
    page.wait_for_selector("#sign-in-message:has-text('sign in again')")
    assert page.evaluate("sessionStorage.getItem('tideflow.key')") is None
    page.problems[:] = [p for p in page.problems if "401" not in p]  # the refused call is logged by the browser
    assert page.problems == []


def test_a_mistyped_address_shows_the_flow_not_an_error(page, served: Served) -> None:  # type: ignore[no-untyped-def]
    """#/recipes/NAME (the API's path, not the UI's) used to ask the API for recipe 'undefined'."""
    sign_in(page, served)
    for hash_ in ("#/recipes/clean_orders", "#/flow/nonsense", "#/flow/recipe"):
        page.goto(f"{served.url}/ui/{hash_}")
        page.wait_for_selector("[data-node='d:orders_clean']")
        page.wait_for_load_state("networkidle")  # the view's API calls have answered
        assert page.locator("#error").is_hidden(), page.text_content("#error")
    page.goto(f"{served.url}/ui/#/flow/recipe/clean_orders")  # the right address still selects the recipe
    page.wait_for_selector("#panel >> text=clean_orders")
    assert page.problems == []
