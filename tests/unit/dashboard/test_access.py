"""Who may see and change what: read-only without tokens, nothing without a token once tokens exist, pause
and resume for operators only, the login cookie's flags, and the CSRF token of every form."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from mlfactory.dashboard.access import COOKIE, LOGIN_COOKIE
from mlfactory.project import Project
from unit.dashboard.dashboard_data import MakeClient

CHANGING = ["/controller/pause", "/controller/resume"]
SHARED = "shared-secret-token"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def log_in(client: TestClient, token: str) -> None:
    form = client.get("/login?next=/events")
    response = client.post("/login", data={"token": token, "csrf": csrf_of(form.text), "next": "/events"})
    assert response.status_code == 303 and response.headers["location"] == "/events"


@pytest.mark.parametrize("route", CHANGING)
def test_without_tokens_the_dashboard_reads_but_never_changes(client: TestClient, route: str) -> None:
    assert client.get("/events").status_code == 200
    assert "an operator token is needed" in client.get("/events").text
    refused = client.post(route, data={"model": "spam", "csrf": ""})
    assert refused.status_code == 401


@pytest.mark.parametrize(
    "url", ["/", "/runs", "/models/spam", "/deployments", "/events", "/fragments/overview"]
)
def test_with_a_token_configured_nothing_shows_without_one(make_client: MakeClient, url: str) -> None:
    client = make_client(token=SHARED)
    page = client.get(url, headers={"accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/login?" + urlencode({"next": url})
    assert "spam" not in page.text
    fragment = client.get(url, headers={"hx-request": "true"})
    assert fragment.status_code == 401 and fragment.headers["hx-redirect"].startswith("/login")
    assert client.get(url, headers={"accept": "application/json"}).status_code == 401
    wrong = client.get(url, headers={"authorization": "Bearer nope", "accept": "application/json"})
    assert wrong.status_code == 401
    assert client.get(url, headers={"authorization": f"Bearer {SHARED}"}).status_code == 200


@pytest.mark.parametrize("route", CHANGING)
def test_changing_routes_need_an_operator(make_client: MakeClient, project: Project, route: str) -> None:
    viewer = project.create_token("watcher", "viewer")
    operator = project.create_token("oncall", "operator")
    client = make_client()
    assert client.post(route, data={"model": "spam"}).status_code == 401
    refused = client.post(route, data={"model": "spam"}, headers={"authorization": f"Bearer {viewer}"})
    assert refused.status_code == 403
    done = client.post(
        route, data={"model": "spam", "reason": "night"}, headers={"authorization": f"Bearer {operator}"}
    )
    assert done.status_code == 303 and done.headers["location"] == "/events?model=spam"
    assert project.rollout("spam").paused is (route.endswith("pause"))
    event = project.events(model="spam", limit=1)[-1]
    assert event.kind == ("controller.paused" if route.endswith("pause") else "controller.resumed")
    assert event.reason == "night" and event.actor == "token:oncall"


def test_login_sets_a_strict_http_only_secure_cookie_and_forms_need_csrf(
    make_client: MakeClient, project: Project
) -> None:
    operator = project.create_token("oncall", "operator")
    client = make_client()
    form = client.get("/login")
    assert LOGIN_COOKIE in form.headers["set-cookie"]
    # the login form itself is guarded: a post without the page's nonce is refused
    assert client.post("/login", data={"token": operator, "csrf": "forged"}).status_code == 403
    wrong = client.post("/login", data={"token": "mlf_wrong", "csrf": csrf_of(form.text)})
    assert wrong.status_code == 401 and "not known" in wrong.text
    form = client.get("/login")
    ok = client.post("/login", data={"token": operator, "csrf": csrf_of(form.text), "next": "/events"})
    cookie = ok.headers["set-cookie"].lower()
    assert f"{COOKIE}=" in cookie
    for flag in ("httponly", "secure", "samesite=strict"):
        assert flag in cookie, flag
    page = client.get("/events")
    assert page.status_code == 200 and "token:oncall (operator)" in page.text
    token = csrf_of(page.text)
    assert client.post("/controller/pause", data={"model": "spam"}).status_code == 403  # no CSRF token
    assert client.post("/controller/pause", data={"model": "spam", "csrf": "x" * 64}).status_code == 403
    assert not project.rollout("spam").paused
    done = client.post("/controller/pause", data={"model": "spam", "csrf": token})
    assert done.status_code == 303 and project.rollout("spam").paused
    assert client.post("/logout", data={"csrf": "wrong"}).status_code == 403
    out = client.post("/logout", data={"csrf": token})
    assert out.status_code == 303 and "max-age=0" in out.headers["set-cookie"].lower()


def test_login_goes_back_only_to_this_dashboard(make_client: MakeClient) -> None:
    client = make_client(token=SHARED)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        form = client.get("/login", params={"next": target})
        response = client.post("/login", data={"token": SHARED, "csrf": csrf_of(form.text), "next": target})
        assert response.status_code == 303 and response.headers["location"] == "/", target


def test_a_revoked_token_no_longer_opens_the_dashboard(make_client: MakeClient, project: Project) -> None:
    secret = project.create_token("temp", "viewer")
    client = make_client()
    header = {"authorization": f"Bearer {secret}", "accept": "application/json"}
    assert client.get("/runs", headers=header).status_code == 200
    project.revoke_token("temp")
    assert client.get("/runs", headers=header).status_code == 401


def test_a_viewer_sees_no_switches(make_client: MakeClient, project: Project) -> None:
    secret = project.create_token("watcher", "viewer")
    client = make_client()
    log_in(client, secret)
    html = client.get("/events").text
    assert "/controller/pause" not in html and "an operator token is needed" in html
