"""People made through the API for the privacy tests (audit, erasure): accounts that keep their
e-mail and password (to sign in on pages too), hosts, needs in progress today, evidence."""
import io
import uuid
from dataclasses import dataclass

from registry.accounts import service as accounts
from registry.common.time import utcnow
from registry.extensions import db
from registry.registrations.models import PremiumRequest
from tests.evidence.images import pdf
from tests.factories import HIDA, PASSWORD, days



@dataclass
class Account:
    id: str
    token: str
    email: str
    role: str


def account(api, role: str, organization: str | None = None, *, display_name: str | None = None) -> Account:
    """A staff, national or admin account made as the CLI makes it, signed in through the API."""
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.jp"
    user = accounts.create_user(email=email, password=PASSWORD, role=role, organization_code=organization,
                                display_name=display_name)
    user_id = str(user.id)
    db.session.commit()  # releases the test's savepoint only
    response = api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return Account(user_id, response.get_json()["token"], email, role)


def resident(api, *, email: str | None = None, display_name: str = "テスト花子", **profile) -> Account:
    email = email or f"r-{uuid.uuid4().hex[:10]}@example.jp"
    body = {"email": email, "password": PASSWORD, "display_name": display_name,
            "home_municipality_code": "131016", "birth_year": 1990}
    response = api.post("/auth/signup", json=body)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    if profile:
        changed = api.patch("/me", token=data["token"], json=profile)
        assert changed.status_code == 200, changed.get_json()
    return Account(data["user"]["id"], data["token"], email, "resident")


def host(api, staff: Account, *, trusted: bool = True, **fields) -> Account:
    """A host of the staff's 団体, invited and signed in through its set-password link."""
    email = f"host-{uuid.uuid4().hex[:10]}@example.jp"
    body = {"email": email, "display_name": "宿の担当者", "host_name": "古川の宿", "trusted": trusted, **fields}
    invited = api.post(f"/organizations/{HIDA}/hosts", token=staff.token, json=body)
    assert invited.status_code == 201, invited.get_json()
    signed = api.post("/auth/set-password", json={"token": invited.get_json()["set_password_token"],
                                                  "password": PASSWORD})
    assert signed.status_code == 200, signed.get_json()
    return Account(invited.get_json()["id"], signed.get_json()["token"], email, "host")


def need(api, poster: Account, **fields) -> str:
    """A need of 飛騨市 taking place today (applications open today), counting as an activity."""
    body = {"organization_code": HIDA, "kind": "volunteer", "title": "古川町の雪かき", "description": "屋根の雪下ろし",
            "skills": ["力仕事"], "remote": False, "starts_on": days(0), "ends_on": days(1), "apply_by": days(0),
            "capacity": 5, "reward": "昼食", "counts_as_activity": True, **fields}
    response = api.post("/needs", token=poster.token, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def register(api, person: Account, organization: str = HIDA, ties=("family",)) -> str:
    response = api.post("/registrations", token=person.token,
                        json={"organization_code": organization, "ties": list(ties)})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def apply(api, person: Account, need_id: str, message: str | None = None) -> str:
    response = api.post(f"/needs/{need_id}/applications", token=person.token,
                        json={"message": message} if message else {})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def submit_evidence(api, person: Account, registration_id: str, *, description: str = "雪かきの証明書",
                    host_name: str | None = "飛騨市社会福祉協議会", with_file: bool = True) -> str:
    form = {"kind": "volunteer", "done_on": days(-3), "description": description}
    if host_name:
        form["host_name"] = host_name
    if with_file:
        form["file"] = (io.BytesIO(pdf()), "proof.pdf", "application/pdf")
    response = api.post(f"/registrations/{registration_id}/activity-evidence", token=person.token, data=form,
                        content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


class World:
    """飛騨市 with its staff, a trusted host, a need of each, and three residents:
    a (shares her profile; applied to both needs; evidence with a file; an identity check and a
    premium request pending), b (open to scouting, shares nothing, applied nowhere: a candidate),
    c (applied to the staff's need and was accepted)."""

    def __init__(self, api):
        self.staff = account(api, "staff", HIDA)
        self.admin = account(api, "admin")
        self.host = host(api, self.staff)
        self.a = resident(api, display_name="閲覧される人", consents={"share_profile": True})
        self.b = resident(api, consents={"scouting": True})
        self.c = resident(api)
        registration = register(api, self.a)
        register(api, self.b)
        register(api, self.c)
        self.ids = {"host": self.host.id, "a": self.a.id, "b": self.b.id, "c": self.c.id,
                    "need": need(api, self.staff), "host_need": need(api, self.host)}
        self.ids["application"] = apply(api, self.a, self.ids["need"], "よろしくお願いします")
        self.ids["host_application"] = apply(api, self.a, self.ids["host_need"])
        self.ids["accepted"] = apply(api, self.c, self.ids["need"])
        assert api.post(f"/applications/{self.ids['accepted']}/accept", token=self.staff.token).status_code == 200
        self.ids["evidence"] = submit_evidence(api, self.a, registration)
        verification = api.post("/me/identity-verifications", token=self.a.token, json={"method": "in_person"})
        self.ids["verification"] = verification.get_json()["id"]
        premium = PremiumRequest(registration_id=uuid.UUID(registration), user_id=uuid.UUID(self.a.id),
                                 organization_code=HIDA, kind="new", status="pending", created_at=utcnow())
        db.session.add(premium)
        db.session.commit()  # releases the test's savepoint only
        self.ids["premium"] = str(premium.id)

    def reader(self, name: str):
        return getattr(self, name)
