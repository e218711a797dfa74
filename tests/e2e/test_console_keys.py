"""The console's API keys page, driven over HTTP against `python -m local`: each key is tried against the API."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import LocalStack
from tests.e2e.console_forms import PASSWORD, Page, signed_up
from tests.e2e.console_people import actions, advance, api, bearer, csrf_of, member

pytestmark = pytest.mark.e2e

KEYS = "/console/api-keys"


def _key(page: Page) -> str:
    found = re.search(r'<p class="secret" id="new-key">([^<]+)</p>', page.html)
    assert found, page.text()[:1500]
    return found.group(1)


def _works(stack: LocalStack, key: str) -> int:
    return stack.request("GET", "/v1/account", headers=bearer(key)).status


def test_empty_state_then_create_use_list_and_revoke(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    empty = browser.get(KEYS)
    assert empty.status == 200 and "No API keys yet" in empty.text() and 'href="#new-key"' in empty.html
    created = browser.submit(KEYS, KEYS, name="ledger sync", role="viewer")
    assert created.status == 200 and "shown only this once" in created.text()
    key = _key(created)
    account = stack.request("GET", "/v1/account", headers=bearer(key))
    assert account.status == 200 and account.json()["id"] == api(stack, browser, "GET", "/v1/me").json()["account_id"]

    listed = browser.get(KEYS)
    assert "ledger sync" in listed.text() and key not in listed.html  # the secret is on the answer page only
    key_id = api(stack, browser, "GET", "/v1/api-keys").json()["data"][0]["id"]
    assert f"sb_test_{key_id}" in listed.text()
    revoked = browser.submit(KEYS, f"{KEYS}/{key_id}/revoke")
    assert revoked.status == 200 and "The key is revoked" in revoked.text()
    assert _works(stack, key) == 401  # the API's promise: refused from the next request on
    assert "ledger sync" not in revoked.text()


def test_rotate_shows_a_new_key_and_both_work_during_the_grace(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    old = _key(browser.submit(KEYS, KEYS, name="worker", role="developer"))
    key_id = api(stack, browser, "GET", "/v1/api-keys").json()["data"][0]["id"]
    rotated = browser.submit(KEYS, f"{KEYS}/{key_id}/rotate", grace_s="3600")
    assert rotated.status == 200
    new = _key(rotated)
    assert new != old and f"The old key ({key_id}) keeps working until" in rotated.text()
    assert (_works(stack, old), _works(stack, new)) == (200, 200)
    advance(stack, 3601)
    assert (_works(stack, old), _works(stack, new)) == (401, 200)


def test_errors_are_shown_beside_the_fields(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    nameless = browser.submit(KEYS, KEYS, name="", role="viewer")
    assert nameless.status in {400, 422} and nameless.error("name")
    past = browser.submit(KEYS, KEYS, name="old", role="viewer", expires_at="2020-01-01")
    assert past.status == 422 and past.error("expires_at")
    garbage = browser.submit(KEYS, KEYS, name="x", role="viewer", expires_at="tomorrow-ish")
    assert garbage.status in {400, 422} and garbage.error("expires_at")
    assert api(stack, browser, "GET", "/v1/api-keys").json()["data"] == []  # a refused form made nothing
    for name in ("x" * 5000, "🙂 émoji ключ", "<script>alert(1)</script>"):
        page = browser.submit(KEYS, KEYS, name=name, role="viewer")
        assert page.status < 500, (name[:20], page.status)
        assert "<script>alert" not in page.html


def test_a_resubmitted_form_does_not_show_the_key_again(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    form = browser.get(KEYS).form(KEYS)
    form.update(name="twice", role="viewer")
    first = browser.post(KEYS, form)
    again = browser.post(KEYS, form)
    assert again.status == 409 and "never shown again" in again.text()
    assert _key(first) not in again.html
    assert len(api(stack, browser, "GET", "/v1/api-keys").json()["data"]) == 1


def test_after_five_minutes_creating_a_key_asks_for_the_password_first(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    advance(stack, 301)
    asked = browser.submit(KEYS, KEYS, follow=False, name="later", role="viewer")
    assert asked.status == 303 and asked.location.startswith("/console/reauth?next=%2Fconsole%2Fapi-keys")
    back = browser.submit(asked.location, "/console/reauth", password=PASSWORD)
    assert back.url.startswith(KEYS) and "Create a key" in back.text()
    assert _works(stack, _key(browser.submit(KEYS, KEYS, name="later", role="viewer"))) == 200


def test_roles_see_only_what_they_may_do_and_the_server_refuses_the_rest(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    _key(owner.submit(KEYS, KEYS, name="admin key", role="admin"))
    viewer, _ = member(stack, owner, "viewer")
    profile = viewer.get("/console/profile")
    assert 'href="/console/api-keys"' not in profile.html  # no way in from the navigation
    refused = viewer.get(KEYS)
    assert refused.status == 403 and KEYS not in actions(refused)
    forged = viewer.post(KEYS, {"csrf": csrf_of(profile), "name": "forged", "role": "viewer"})
    assert forged.status == 403
    names = [k["name"] for k in api(stack, owner, "GET", "/v1/api-keys").json()["data"]]
    assert names == ["admin key"]

    developer, _ = member(stack, owner, "developer")
    page = developer.get(KEYS)
    assert page.status == 200
    offered = re.findall(r'<option value="(\w+)"', page.html.split('id="f-role"')[1].split("</select>")[0])
    assert offered == ["developer", "agent", "viewer"]
    admin_key = api(stack, owner, "GET", "/v1/api-keys").json()["data"][0]["id"]
    assert f"{KEYS}/{admin_key}/revoke" not in actions(page)  # above the developer's role: no buttons
    too_high = developer.post(KEYS, {**page.form(KEYS), "name": "sneaky", "role": "owner"})
    assert too_high.status == 403
    revoke = developer.post(f"{KEYS}/{admin_key}/revoke", {"csrf": csrf_of(page)})
    assert revoke.status == 403
    assert [k["name"] for k in api(stack, owner, "GET", "/v1/api-keys").json()["data"]] == ["admin key"]


def test_unknown_and_foreign_key_ids_are_404_and_posts_need_the_csrf_field(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    stranger, _ = signed_up(stack, account_name="Stranger Co")
    theirs_key = _key(stranger.submit(KEYS, KEYS, name="theirs", role="viewer"))
    theirs = api(stack, stranger, "GET", "/v1/api-keys").json()["data"][0]["id"]
    csrf = csrf_of(browser.get(KEYS))
    for key_id in (theirs, "key_doesnotexist", "x" * 100):
        assert browser.post(f"{KEYS}/{key_id}/revoke", {"csrf": csrf}).status == 404, key_id
        assert browser.post(f"{KEYS}/{key_id}/rotate", {"csrf": csrf}).status == 404, key_id
    assert _works(stack, theirs_key) == 200
    assert browser.get(f"{KEYS}/{theirs}/revoke").status == 405  # an action is a POST, never a link

    assert browser.post(KEYS, {"name": "no token", "role": "viewer"}).status == 403
    assert browser.post(f"{KEYS}/{theirs}/revoke", {}).status == 403
    assert api(stack, browser, "GET", "/v1/api-keys").json()["data"] == []
