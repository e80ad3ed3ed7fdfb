"""An administrator disabling an account with a reason writes a statement of reasons for the
account's holder: listed for the administrator to hand over, read by the holder once the
account works again, and never by anyone else."""

from __future__ import annotations

from tests.api.conftest import World


def test_a_disabled_account_gets_a_statement_its_holder_reads(world: World) -> None:
    admin = world.headers("admin")
    # The spam template as it stands (a moderator may have reworded it earlier in the session).
    templates = world.client.get("/moderation/templates", headers=admin).json()
    spam_ground = next(t["ground"] for t in templates if t["category"] == "spam")
    made = world.client.post("/users", json={"name": "Vic", "roles": ["listener"]}, headers=admin)
    vic = made.json()
    vic_headers = {"Authorization": f"Bearer {vic['key']['token']}"}
    disabled = world.client.post(
        f"/users/{vic['user']['id']}/disable",
        json={"category": "spam", "reason": "300 identical complaints in an hour"},
        headers=admin,
    )
    assert disabled.status_code == 200 and disabled.json()["disabled_at"]
    assert world.client.get("/statements", headers=vic_headers).status_code == 401
    listed = world.client.get(f"/users/{vic['user']['id']}/statements", headers=admin).json()
    assert [s["restriction"] for s in listed] == ["account_disabled"]
    statement = listed[0]
    assert statement["facts"] == "300 identical complaints in an hour"
    assert statement["ground"] == spam_ground and "spam" in spam_ground
    assert "operator" in statement["text"] and statement["complaint_id"] is None
    # Disabling again writes nothing more.
    world.client.post(
        f"/users/{vic['user']['id']}/disable", json={"reason": "again"}, headers=admin
    )
    again = world.client.get(f"/users/{vic['user']['id']}/statements", headers=admin).json()
    assert len(again) == 1

    world.client.post(f"/users/{vic['user']['id']}/enable", headers=admin).raise_for_status()
    mine = world.client.get("/statements", headers=vic_headers).json()
    assert [s["id"] for s in mine] == [statement["id"]]
    read = world.client.get(f"/statements/{statement['id']}", headers=world.headers("listener"))
    assert read.status_code == 404  # another listener
