"""Decisions as the Digital Services Act asks a hosting service to keep them: a statement of
reasons for every restriction (who may read it), appeals reviewed by another moderator that can
reverse a decision, the administrators' emergency takedown, the moderators' statement
templates, and the transparency report. The decisions themselves are ``services.moderation``'s;
this module writes them down and undoes them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, cast, or_, select
from sqlalchemy.orm import Session

from infra.models import (
    Appeal,
    AuditEntry,
    Clip,
    Complaint,
    Episode,
    Participant,
    ReasonTemplate,
    RemovedRange,
    Space,
    Statement,
    User,
    utcnow,
)
from infra.settings import get_settings
from infra.storage import ObjectStore
from pipeline.retention import OPEN_STATUSES
from pipeline.statements import (
    ACCOUNT_TEXT,
    DEFAULT_GROUNDS,
    DEFAULT_TEXT,
    RESTRICTIONS,
    AppealRecord,
    DecisionRecord,
    check_template,
    transparency,
    write_statement,
)
from pipeline.states import ComplaintStatus, SpaceStatus
from services.audit import audit
from services.errors import Conflict, Forbidden, Gone, Invalid, NotFound
from services.publishing import delete_objects, render_again, take_down_episode

# What the audit log's review entries say was heard and read, kept with the decision.
EVIDENCE_ACTIONS = ("play_track", "play_mix", "search")


def template_for(session: Session, category: str) -> tuple[str, str]:
    """(ground, text) of the category's statement: the moderators' version, else the default."""
    saved = session.get(ReasonTemplate, category)
    if saved is not None:
        return saved.ground, saved.text
    return DEFAULT_GROUNDS.get(category, DEFAULT_GROUNDS["other"]), DEFAULT_TEXT


def save_template(session: Session, category: str, *, ground: str, text: str, by: str) -> None:
    if category not in DEFAULT_GROUNDS:
        raise NotFound(f"no complaint category {category!r}")
    try:
        check_template(text)
    except ValueError as error:
        raise Invalid(f"template for {category}: {error}") from None
    saved = session.get(ReasonTemplate, category)
    if saved is None:
        saved = ReasonTemplate(category=category)
        session.add(saved)
    saved.ground, saved.text, saved.updated_by, saved.updated_at = ground, text, by, utcnow()
    session.commit()


def appeal_deadline(decided_at: datetime) -> datetime:
    return decided_at + get_settings().retention_policy().appeal_window


def _evidence(session: Session, complaint_id: str) -> list[dict]:
    """What the moderators heard and searched for this complaint, and when (from the audit
    log): it stays with the decision after the audio is swept."""
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.complaint_id == complaint_id, AuditEntry.action.in_(EVIDENCE_ACTIONS))
        .order_by(AuditEntry.seq)
    )
    return [
        {"action": e.action, "by": e.actor, "at": e.at.isoformat(), **(e.detail or {})}
        for e in entries
    ]


def _affected(session: Session, space: Space, decision: str, complaint: Complaint) -> list[str]:
    """Whose content a decision restricts: the show's host always; the speaker it removed (not
    necessarily the one the complaint named); the clip's maker."""
    show_owner = space.show.owner_id if space.show else None
    who = [f"user:{show_owner}"] if show_owner else []
    if decision == "remove_speaker":
        who += [
            f"participant:{removed}"
            for removed in session.scalars(
                select(Participant.id).where(Participant.removed_by_complaint == complaint.id)
            )
        ]
    if decision == "remove_clip" and complaint.clip_id:
        clip = session.get(Clip, complaint.clip_id)
        if clip is not None and clip.creator_id and f"user:{clip.creator_id}" not in who:
            who.append(f"user:{clip.creator_id}")
    return who


def _new_statement(
    session: Session,
    *,
    category: str,
    restriction: str,
    subject: str,
    facts: str,
    decided_by: str,
    affected: list[str],
    complaint: Complaint | None,
    emergency: bool = False,
) -> Statement:
    """A statement of a decision on ``complaint`` (None: an account an administrator
    disabled, appealed to the platform's operator)."""
    ground, template = template_for(session, category)
    if complaint is None:
        template = ACCOUNT_TEXT
    decided_at = (complaint and (complaint.decided_at or complaint.emergency_at)) or utcnow()
    appeal_until = appeal_deadline(decided_at)
    statement = Statement(
        complaint_id=complaint.id if complaint else None,
        space_id=complaint.space_id if complaint else None,
        affected=affected,
        restriction=restriction,
        subject=subject,
        category=category,
        facts=facts,
        ground=ground,
        automated=False,  # no decision here is taken by automated means
        emergency=emergency,
        evidence=_evidence(session, complaint.id) if complaint else [],
        decided_by=decided_by,
        decided_at=decided_at,
        appeal_until=appeal_until,
        text=write_statement(
            template,
            subject=subject,
            restriction=restriction.replace("_", " "),
            decided_at=f"{decided_at:%Y-%m-%d %H:%M} UTC",
            facts=facts,
            ground=ground,
            automation="none: a person reviewed the case and decided",
            appeal_until=f"{appeal_until:%Y-%m-%d}",
            complaint_id=complaint.id if complaint else "",
            category=category,
        ),
    )
    session.add(statement)
    session.flush()
    return statement


def state_reasons(
    session: Session,
    complaint: Complaint,
    *,
    decision: str,
    subject: str,
    facts: str,
    decided_by: str,
    emergency: bool = False,
) -> Statement:
    """Write the statement of reasons of a restricting decision on ``complaint`` (flushes; the
    caller commits with the decision)."""
    space = session.get(Space, complaint.space_id)
    assert space is not None
    return _new_statement(
        session,
        category=complaint.category,
        restriction=RESTRICTIONS[decision],
        subject=subject,
        facts=facts,
        decided_by=decided_by,
        affected=_affected(session, space, decision, complaint),
        complaint=complaint,
        emergency=emergency,
    )


def statement(session: Session, statement_id: str) -> Statement:
    found = session.get(Statement, statement_id)
    if found is None:
        raise NotFound(f"statement {statement_id} not found")
    return found


def may_read(found: Statement, *, subjects: set[str], is_moderator: bool) -> bool:
    """A statement is read by the parties it restricts and by moderators."""
    return is_moderator or bool(subjects & set(found.affected))


def statements_of_space(session: Session, space_id: str) -> list[Statement]:
    return list(
        session.scalars(
            select(Statement).where(Statement.space_id == space_id).order_by(Statement.decided_at)
        )
    )


def statements_for(session: Session, subjects: set[str], space_id: str | None) -> list[Statement]:
    """The statements naming one of ``subjects`` as affected (of one space, if given). The
    database narrows by the JSON text (ids hold no LIKE wildcards); the list decides."""
    mentions = [cast(Statement.affected, String).like(f'%"{subject}"%') for subject in subjects]
    query = select(Statement).where(or_(*mentions)).order_by(Statement.decided_at)
    if space_id:
        query = query.where(Statement.space_id == space_id)
    return [s for s in session.scalars(query) if subjects & set(s.affected)]


def emergency_takedown(
    session: Session,
    store: ObjectStore,
    space: Space,
    *,
    admin: str,
    category: str,
    reason: str,
) -> Complaint:
    """Take every episode, clip and media URL of the space offline now, pending review: filed as
    a complaint by the administrator (it holds the recordings and is in the review queue), with
    its statement of reasons and its own audit entry. A moderator's ``dismiss`` lifts it."""
    episode = session.scalar(select(Episode).where(Episode.space_id == space.id))
    keys: list[str] = []
    if episode is not None:
        keys += take_down_episode(session, store, episode, by="moderation", reason=reason)
    space.status, space.error = SpaceStatus.TAKEN_DOWN, f"taken offline pending review: {reason}"
    now = utcnow()
    filed = Complaint(
        space_id=space.id,
        target="space",
        episode_id=episode.id if episode else None,
        category=category,
        text=reason,
        reporter=admin,
        emergency_at=now,
    )
    session.add(filed)
    session.flush()
    state_reasons(
        session,
        filed,
        decision="emergency_takedown",
        subject=f'the space "{space.title}", its episode and clips',
        facts=reason,
        decided_by=admin,
        emergency=True,
    )
    audit(
        session,
        actor=admin,
        action="emergency_takedown",
        reason=reason,
        space_id=space.id,
        complaint_id=filed.id,
        episode_id=episode.id if episode else None,
        objects=len(keys),
    )
    session.commit()
    delete_objects(store, keys)
    return filed


def restore_space(session: Session, space: Space, *, store: ObjectStore, undone: Complaint) -> bool:
    """Undo a moderation takedown: the episode is rendered again from the retained recordings
    under the same guid (False, committed all the same, when there is nothing to restore, or
    when another decision's takedown of the space stands: a removal, an emergency takedown)."""
    episode = session.scalar(select(Episode).where(Episode.space_id == space.id))
    if episode is None or episode.removed_at is None or episode.removed_by != "moderation":
        session.commit()
        return False
    if session.scalar(
        select(Statement.id).where(
            Statement.space_id == space.id,
            Statement.restriction.in_(
                (RESTRICTIONS["remove_episode"], RESTRICTIONS["emergency_takedown"])
            ),
            Statement.lifted_at.is_(None),
            Statement.complaint_id != undone.id,
        )
    ):
        session.commit()
        return False
    episode.removed_at = episode.removed_by = episode.removal_reason = None
    space.status, space.error = SpaceStatus.PROCESSING, None
    return render_again(session, space, store=store)


def _lift_statements(session: Session, complaint: Complaint, *, by: str, reason: str) -> None:
    for found in session.scalars(
        select(Statement).where(
            Statement.complaint_id == complaint.id, Statement.lifted_at.is_(None)
        )
    ):
        found.lifted_at, found.lifted_by, found.lift_reason = utcnow(), by, reason


def _standing_removal(session: Session, participant: Participant, undone: Complaint) -> str | None:
    """Another complaint whose speaker removal of ``participant`` is not lifted, if any."""
    for found in session.scalars(
        select(Statement)
        .where(
            Statement.space_id == participant.space_id,
            Statement.restriction == RESTRICTIONS["remove_speaker"],
            Statement.lifted_at.is_(None),
            Statement.complaint_id != undone.id,
        )
        .order_by(Statement.decided_at)
    ):
        if f"participant:{participant.id}" in found.affected:
            return found.complaint_id
    return None


def undo_decision(
    session: Session, store: ObjectStore, complaint: Complaint, *, by: str, reason: str
) -> None:
    """Reverse what a decision restricted: the episode rendered again, the speaker back in (if
    their consent still allows), the clip's stretch allowed again. Commits."""
    space = session.get(Space, complaint.space_id)
    assert space is not None
    _lift_statements(session, complaint, by=by, reason=reason)
    if complaint.decision == "remove_speaker":
        for participant in session.scalars(
            select(Participant).where(Participant.removed_by_complaint == complaint.id)
        ):
            # Removed on another complaint too, whose decision stands: they stay out under it.
            standing = _standing_removal(session, participant, complaint)
            participant.removed_by_complaint = standing
            if standing is None:
                participant.removed_at = None
        session.flush()
        render_again(session, space, store=store)
    elif complaint.decision == "remove_clip":
        for removed in session.scalars(
            select(RemovedRange).where(RemovedRange.complaint_id == complaint.id)
        ):
            session.delete(removed)
        session.commit()  # the stretch may be cut again; the removed clips stay removed
    elif complaint.decision == "remove_episode" or complaint.emergency_at is not None:
        restore_space(session, space, store=store, undone=complaint)
    else:
        session.commit()


def appellants(session: Session, complaint: Complaint) -> set[str]:
    """Who may appeal the decision on ``complaint``: its notifier, and the parties the
    decision restricts."""
    who = {complaint.reporter}
    for found in session.scalars(select(Statement).where(Statement.complaint_id == complaint.id)):
        who |= set(found.affected)
    return who


def file_appeal(
    session: Session, complaint: Complaint, *, subjects: set[str], appellant: str, text: str
) -> Appeal:
    """An appeal by the notifier or an affected party, within the appeal window after the
    decision; one open appeal per complaint. Commits."""
    if not subjects & appellants(session, complaint):
        raise NotFound(f"complaint {complaint.id} not found")
    # Appeals filed at once queue on the complaint's row: the second sees the first's.
    session.refresh(complaint, with_for_update=True)
    if complaint.status in OPEN_STATUSES or complaint.decided_at is None:
        raise Conflict(f"complaint {complaint.id} is not decided yet; there is nothing to appeal")
    if utcnow() >= appeal_deadline(complaint.decided_at):
        raise Gone(
            f"the appeal window of complaint {complaint.id} closed on "
            f"{appeal_deadline(complaint.decided_at):%Y-%m-%d}"
        )
    if session.scalar(
        select(Appeal.id).where(Appeal.complaint_id == complaint.id, Appeal.status == "open")
    ):
        raise Conflict(f"complaint {complaint.id} already has an open appeal")
    appeal = Appeal(
        complaint_id=complaint.id, space_id=complaint.space_id, appellant=appellant, text=text
    )
    session.add(appeal)
    session.commit()
    return appeal


def appeal(session: Session, appeal_id: str) -> Appeal:
    found = session.get(Appeal, appeal_id)
    if found is None:
        raise NotFound(f"appeal {appeal_id} not found")
    return found


def open_appeals(session: Session) -> list[Appeal]:
    return list(
        session.scalars(select(Appeal).where(Appeal.status == "open").order_by(Appeal.created_at))
    )


def decide_appeal(
    session: Session,
    store: ObjectStore,
    found: Appeal,
    *,
    decision: str,
    reason: str,
    moderator: str,
) -> Appeal:
    """Uphold or reverse, by another moderator than the one who decided the complaint and than
    its parties. Reversing a restriction restores what it took down; reversing a dismissal
    reopens the complaint for a new decision. Audited; commits."""
    # Reviews taken at once queue on the appeal's row: the second sees it decided.
    session.refresh(found, with_for_update=True)
    if found.status != "open":
        raise Conflict(f"appeal {found.id} was already decided ({found.status})")
    complaint = session.get(Complaint, found.complaint_id)
    assert complaint is not None
    # Not who decided, nor a party: the notifier (an emergency takedown's administrator
    # included), the parties the decision restricts, the appellant.
    if moderator in {complaint.decided_by, found.appellant} | appellants(session, complaint):
        raise Forbidden(
            f"appeal {found.id} is reviewed by another moderator than the one who decided "
            "and than the parties to it"
        )
    found.status = "reversed" if decision == "reverse" else "upheld"
    found.decided_by, found.decided_at, found.reason = moderator, utcnow(), reason
    audit(
        session,
        actor=moderator,
        action=f"appeal_{found.status}",
        reason=reason,
        space_id=complaint.space_id,
        complaint_id=complaint.id,
        appeal_id=found.id,
        decision=complaint.decision,
    )
    if decision != "reverse":
        session.commit()
    elif complaint.decision == "dismiss":
        complaint.status, complaint.decision = ComplaintStatus.OPEN, None
        complaint.decided_by = complaint.decided_at = None
        session.commit()
    else:
        undo_decision(session, store, complaint, by=moderator, reason=f"appeal reversed: {reason}")
    return found


def transparency_report(session: Session, since: datetime, until: datetime) -> dict:
    complaints = [
        DecisionRecord(
            is_notice=c.is_notice,
            category=c.category,
            created_at=c.created_at,
            decision="emergency_takedown" if c.emergency_at and not c.decision else c.decision,
            decided_at=c.decided_at or c.emergency_at,
            emergency=c.emergency_at is not None,
        )
        for c in session.scalars(select(Complaint))
    ]
    appeals = [
        AppealRecord(a.created_at, a.status, a.decided_at) for a in session.scalars(select(Appeal))
    ]
    return transparency(complaints, appeals, since, until)


def account_statement(
    session: Session, user: User, *, admin: str, category: str, reason: str
) -> Statement:
    """The statement of reasons of an account an administrator disabled (flushes). Its holder
    reads it once the account works again, or from the administrator, who lists it with
    ``GET /users/{id}/statements``."""
    return _new_statement(
        session,
        category=category,
        restriction="account_disabled",
        subject=f"the account {user.name}",
        facts=reason,
        decided_by=admin,
        affected=[f"user:{user.id}"],
        complaint=None,
    )
