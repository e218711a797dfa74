"""The console's members page, driven over HTTP against `python -m local`: invitations travel through the outbox."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import LocalStack
from tests.e2e.console_forms import PASSWORD, ConsoleBrowser, Page, signed_up, token_for, unique_email
from tests.e2e.console_people import SESSION_COOKIE, actions, api, csrf_of, member

pytestmark = pytest.mark.e2e

MEMBERS = "/console/members"


def _rows(stack: LocalStack, owner: ConsoleBrowser) -> dict[str, dict[str, str]]:
    """Members and invitations by e-mail, as the API lists them."""
    return {m["email"]: m for m in api(stack, owner, "GET", "/v1/members").json()["data"]}


def _options(page: Page, select_id: str) -> list[str]:
    block = page.html.split(f'id="{select_id}"')[1].split("</select>")[0]
    return re.findall(r'<option value="(\w+)"', block)


def test_invite_through_the_page_accept_and_sign_in_with_the_role(stack: LocalStack) -> None:
    owner, owner_email = signed_up(stack)
    page = owner.get(MEMBERS)
    assert page.status == 200 and owner_email in page.text() and "you" in page.text()
    assert "Nobody else is here yet" in page.text()
    email = unique_email("invitee")
    invited = owner.submit(MEMBERS, MEMBERS, email=email, role="agent")
    assert invited.status == 200 and "Invitation sent" in invited.text()
    assert email in invited.text() and "invited" in invited.text()
    token = token_for(stack, email)  # the outbox has the invitation

    newcomer = ConsoleBrowser(stack)
    joined = newcomer.submit(
        f"/console/accept-invitation?token={token}", "/console/accept-invitation", password=PASSWORD
    )
    assert "/console/login" in joined.url
    newcomer.submit("/console/login", "/console/login", email=email, password=PASSWORD)
    assert SESSION_COOKIE in newcomer.cookies
    me = api(stack, newcomer, "GET", "/v1/me").json()
    assert (me["email"], me["role"]) == (email, "agent")
    assert "agent" in newcomer.get("/console/profile").text()
    assert _rows(stack, owner)[email]["status"] == "active"


def test_change_role_remove_and_cancel_an_invitation(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    dev, dev_email = member(stack, owner, "developer")
    user_id = _rows(stack, owner)[dev_email]["user_id"]
    changed = owner.submit(MEMBERS, f"{MEMBERS}/{user_id}/role", role="viewer")
    assert changed.status == 200 and "Role changed" in changed.text()
    assert api(stack, dev, "GET", "/v1/me").json()["role"] == "viewer"

    removed = owner.submit(MEMBERS, f"{MEMBERS}/{user_id}/remove")
    assert removed.status == 200 and "Removed" in removed.text() and dev_email not in removed.text()
    assert api(stack, dev, "GET", "/v1/me").status == 401
    assert dev.get("/console/profile").url.startswith("/console/login")

    pending = unique_email("pending")
    owner.submit(MEMBERS, MEMBERS, email=pending, role="viewer")
    token = token_for(stack, pending)
    invitation_id = _rows(stack, owner)[pending]["invitation_id"]
    cancelled = owner.submit(MEMBERS, f"{MEMBERS}/{invitation_id}/remove")
    assert "Invitation cancelled" in cancelled.text() and pending not in cancelled.text()
    refused = stack.request("POST", "/v1/invitations/accept", {"token": token, "password": PASSWORD})
    assert refused.status == 400


def test_errors_beside_the_fields_and_refusals_above_the_list(stack: LocalStack) -> None:
    owner, owner_email = signed_up(stack)
    bad = owner.submit(MEMBERS, MEMBERS, email="not an address", role="viewer")
    assert bad.status in {400, 422} and bad.error("email")
    again = owner.submit(MEMBERS, MEMBERS, email=owner_email, role="viewer")
    assert again.status == 409 and again.error("email")
    owner_id = _rows(stack, owner)[owner_email]["user_id"]
    assert f"{MEMBERS}/{owner_id}/role" not in actions(owner.get(MEMBERS))  # not your own row
    form = owner.get(MEMBERS).form(MEMBERS)
    last = owner.post(f"{MEMBERS}/{owner_id}/role", {**form, "role": "viewer"})
    assert last.status == 409 and "at least one owner" in last.text()
    for value in ("x" * 5000, "ü@ä.example", "<b>@x.example", "🙂"):
        page = owner.post(MEMBERS, {**form, "email": value, "role": "viewer"})
        assert page.status < 500, (value[:20], page.status)
        assert "<b>@" not in page.html
    assert len(_rows(stack, owner)) == 1


def test_an_admin_cannot_touch_owners_and_the_server_refuses_a_forged_form(stack: LocalStack) -> None:
    owner, owner_email = signed_up(stack)
    admin, admin_email = member(stack, owner, "admin")
    _, viewer_email = member(stack, owner, "viewer")
    rows = _rows(stack, owner)
    owner_id, viewer_id = rows[owner_email]["user_id"], rows[viewer_email]["user_id"]
    page = admin.get(MEMBERS)
    assert page.status == 200
    assert f"{MEMBERS}/{owner_id}/role" not in actions(page) and f"{MEMBERS}/{owner_id}/remove" not in actions(page)
    assert f"{MEMBERS}/{viewer_id}/role" in actions(page)
    assert "owner" not in _options(page, "f-role") and "owner" not in _options(page, f"r-{viewer_id}")

    form = page.form(MEMBERS)
    assert admin.post(f"{MEMBERS}/{owner_id}/role", {**form, "role": "viewer"}).status == 403
    assert admin.post(f"{MEMBERS}/{owner_id}/remove", {"csrf": form["csrf"]}).status == 403
    assert admin.post(f"{MEMBERS}/{viewer_id}/role", {**form, "role": "owner"}).status == 403
    assert admin.post(MEMBERS, {**form, "email": unique_email("boss"), "role": "owner"}).status == 403
    after = _rows(stack, owner)
    assert (after[owner_email]["role"], after[viewer_email]["role"]) == ("owner", "viewer")
    assert after[admin_email]["role"] == "admin" and len(after) == 3


def test_a_viewer_sees_no_buttons_and_a_forged_invitation_is_refused(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    viewer, _ = member(stack, owner, "viewer")
    page = viewer.get(MEMBERS)
    assert page.status == 200 and "Only owners and admins" in page.text()
    assert [a for a in actions(page) if a.startswith(MEMBERS)] == []
    forged = viewer.post(MEMBERS, {"csrf": csrf_of(page), "email": unique_email("forged"), "role": "viewer"})
    assert forged.status == 403
    assert len(_rows(stack, owner)) == 2  # nothing was invited


def test_unknown_and_foreign_ids_are_404_and_posts_need_the_csrf_field(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    stranger, stranger_email = signed_up(stack, account_name="Stranger Co")
    theirs = _rows(stack, stranger)[stranger_email]["user_id"]
    form = owner.get(MEMBERS).form(MEMBERS)
    for user_id in (theirs, "usr_doesnotexist", "inv_doesnotexist", "z" * 100):
        assert owner.post(f"{MEMBERS}/{user_id}/role", {**form, "role": "viewer"}).status == 404, user_id
        assert owner.post(f"{MEMBERS}/{user_id}/remove", {"csrf": form["csrf"]}).status == 404, user_id
    assert owner.post(f"{MEMBERS}/a.b/remove", {"csrf": form["csrf"]}).status == 404  # not a console path at all
    assert _rows(stack, stranger)[stranger_email]["role"] == "owner"

    email = unique_email("nocsrf")
    assert owner.post(MEMBERS, {"email": email, "role": "viewer"}).status == 403
    assert email not in _rows(stack, owner)
