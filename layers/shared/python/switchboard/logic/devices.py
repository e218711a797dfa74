"""New device or IP on login (R11): per-user keyed digests of the IPs and devices seen, a notice for a new one."""

from __future__ import annotations

from switchboard import clock, mail
from switchboard.crypto import blind_index
from switchboard.dal import accounts as accounts_dal
from switchboard.dal.accounts import User
from switchboard.logic import audit, notices
from switchboard.models.request import RequestMeta

REMEMBERED = 20  # per kind, most recent last: an IP or device unseen for 20 newer ones counts as new again


def _digests(user: User, kind: str, value: str) -> list[str]:
    # Keyed and per user: the table holds no address or user agent, and two users' digests cannot be matched.
    # Every live key version, the current first: a rotation of the blind-index key makes no device "new".
    return blind_index.keyed_digests(f"login_{kind}", f"{user.user_id}\0{value}")


def _remember(known: list[str], digests: list[str]) -> list[str]:
    # The current version's digest replaces any older version's digest of the same IP or device (rehash on use).
    return [*[d for d in known if d not in digests], digests[0]][-REMEMBERED:]


def on_login(user: User, meta: RequestMeta) -> bool:
    """Remember this login's IP and device; e-mail a notice and audit when either is new (True then).

    A user's first login (after signup or accepting an invitation) has nothing to compare with: it is remembered,
    not reported.
    """
    ips, devices = list(user.known_ips or []), list(user.known_devices or [])
    ip, device = _digests(user, "ip", meta.source_ip), _digests(user, "device", meta.user_agent)
    new_ip, new_device = not set(ip) & set(ips), not set(device) & set(devices)
    if not (new_ip or new_device):
        if ip[0] not in ips or device[0] not in devices:  # seen under an older key version: store the current one
            accounts_dal.update_user(
                user, known_ips=tuple(_remember(ips, ip)), known_devices=tuple(_remember(devices, device))
            )
        return False
    first = not ips and not devices
    accounts_dal.update_user(user, known_ips=tuple(_remember(ips, ip)), known_devices=tuple(_remember(devices, device)))
    if first:
        return False
    audit.record(
        account_id=user.account_id,
        type="login.new_device",
        outcome="success",
        actor=user.user_id,
        meta=meta,
        data={"new_ip": new_ip, "new_device": new_device},
    )
    mail.send_new_login_notice(
        notices.email_of(user),
        ip=meta.source_ip,
        device=meta.user_agent,
        at=clock.rfc3339_at(int(clock.timestamp())),
    )
    return True
