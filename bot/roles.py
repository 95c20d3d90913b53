"""Who may do what: permission levels from contact ids, never from display names.

A member's level in a group comes from three places, highest first: the configured superadmins
(``[bot].superadmins``), the room's owner and admins as the platform reports them (kept in the
store by the live bot), and the group's configured ``admins``. Display names are never consulted:
anyone can copy a name.
"""

from __future__ import annotations

import enum

from bot.config import Config, Moderation
from bot.store.groups import GroupRecord


class Level(enum.IntEnum):
    MEMBER = 0
    ADMIN = 1  # a room admin, or a contact listed in the group's `admins`
    OWNER = 2  # the room's owner
    SUPERADMIN = 3  # listed in [bot].superadmins: every group


def level_of(member_id: str, group_id: str, config: Config, room: GroupRecord | None) -> Level:
    if member_id in config.bot.superadmins:
        return Level.SUPERADMIN
    if room is not None and room.owner_id and member_id == room.owner_id:
        return Level.OWNER
    group = config.group(group_id)
    if (room is not None and member_id in room.admin_ids) or (group is not None and member_id in group.admins):
        return Level.ADMIN
    return Level.MEMBER


def effective_dry_run(policy: Moderation, room: GroupRecord | None) -> bool:
    """An admin's in-chat ``dryrun on|off`` wins over the configured policy until switched back."""
    if room is not None and room.dry_run is not None:
        return room.dry_run
    return policy.dry_run
