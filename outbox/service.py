"""Local actions: each changes our state and queues the activity that tells the network,
in one transaction, so neither happens without the other.

Used by the CLI now and by the client API. Recipients: remote followers through their
shared inboxes, plus mentioned remote accounts; local followers get the status in their
home feed directly. Delivery itself is the delivery worker's job (outbox/worker.py).

`Outbox` is the one entry point. The actions themselves live in outbox/actions/, one module
per kind, as functions that take the `OutboxContext` (outbox/context.py: the services and
the helpers they share) first; the class binds each of them as a method.
"""

from __future__ import annotations

from outbox.actions import account, reactions, relationships, statuses
from outbox.actions.statuses import VISIBILITIES
from outbox.context import OutboxContext

__all__ = ["VISIBILITIES", "Outbox"]


class Outbox(OutboxContext):
    """Our accounts' actions: `outbox.post(author, text)`, `outbox.follow(a, b)`, ..."""

    # -- statuses ----------------------------------------------------------------------
    note_for = statuses.note_for
    activity_for = statuses.activity_for
    post = statuses.post
    edit = statuses.edit
    delete = statuses.delete

    # -- relationships -----------------------------------------------------------------
    follow = relationships.follow
    unfollow = relationships.unfollow
    answer_follow_request = relationships.answer_follow_request
    block = relationships.block
    unblock = relationships.unblock

    # -- reactions ---------------------------------------------------------------------
    favourite = reactions.favourite
    unfavourite = reactions.unfavourite
    reblog = reactions.reblog
    unreblog = reactions.unreblog

    # -- account -----------------------------------------------------------------------
    pin = account.pin
    move = account.move
    delete_account = account.delete_account
    announce_profile = account.announce_profile
