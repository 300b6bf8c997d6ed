"""Launch day (registration opens 2027-01): residents sign up from their phones, register with
one to three 団体, read their recommendations and registrations and browse needs; the national
office's dashboard polls the figures. Run by bench/launch_day.py, which also checks that the
figures afterwards equal exactly what the service acknowledged.

Settings from the environment: LAUNCH_ORGANIZATIONS (a JSON file of [code, prefecture_code] pairs),
LAUNCH_NATIONAL_TOKEN, LAUNCH_ACKNOWLEDGED (where the acknowledged counts are written at the end).
"""
import json
import os
import random
import uuid

from locust import HttpUser, between, constant, events, task

ORGANIZATIONS = json.loads(open(os.environ["LAUNCH_ORGANIZATIONS"]).read())
MUNICIPALITIES = [code for code, prefecture in ORGANIZATIONS if code != prefecture]
TIES = ("birthplace", "family", "furusato_nozei", "repeat_visit", "product_purchase", "two_region_living",
        "volunteer", "side_job", "work_or_study", "other")
ACKNOWLEDGED = {"people": 0, "registrations": 0, "signups": 0}


class Resident(HttpUser):
    """One phone after another: a person signs up, registers, reads a few screens and leaves; the
    same simulated user then comes back as the next new person, so sign-ups go on all test long."""
    weight = 12
    wait_time = between(1, 4)  # a person reading a phone screen

    def on_start(self):
        self.arrive()

    def arrive(self):
        self.screens_left = random.randint(4, 12)
        home = random.choice(MUNICIPALITIES)
        response = self.client.post("/api/v1/auth/signup", name="POST /auth/signup", json={
            "email": f"launch-{uuid.uuid4().hex}@example.jp", "password": "launch-day-2027",
            "display_name": "ふるさと 太郎", "home_municipality_code": home,
            "birth_year": random.randint(1950, 2006)})
        if response.status_code != 201:
            self.token = None
            return
        ACKNOWLEDGED["signups"] += 1
        self.token = response.json()["token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}
        home_prefecture = next(p for code, p in ORGANIZATIONS if code == home)
        targets = [code for code, _ in random.sample(ORGANIZATIONS, 8) if code not in (home, home_prefecture)]
        registered = 0
        for code in targets[:random.randint(1, 3)]:
            response = self.client.post("/api/v1/registrations", name="POST /registrations", headers=self.headers,
                                        json={"organization_code": code, "ties": random.sample(TIES, 2)})
            if response.status_code == 201:
                registered += 1
                ACKNOWLEDGED["registrations"] += 1
        ACKNOWLEDGED["people"] += registered > 0

    def screen(self):
        """Counts a screen; the person leaves after their last one and the next one arrives."""
        self.screens_left -= 1
        if self.screens_left < 0:
            self.arrive()
            return False
        return self.token is not None

    @task(5)
    def recommendations(self):
        if self.screen():
            self.client.get("/api/v1/me/recommendations?limit=20", name="GET /me/recommendations",
                            headers=self.headers)

    @task(2)
    def own_registrations(self):
        if self.screen():
            self.client.get("/api/v1/registrations", name="GET /registrations", headers=self.headers)

    @task(2)
    def browse_needs(self):
        if not self.screen():
            return
        prefecture = random.choice(ORGANIZATIONS)[1]
        self.client.get(f"/api/v1/needs?prefecture={prefecture}", name="GET /needs?prefecture=")


class NationalDashboard(HttpUser):
    weight = 1
    fixed_count = 2  # two screens at the national office
    wait_time = constant(5)

    def on_start(self):
        self.headers = {"Authorization": f"Bearer {os.environ['LAUNCH_NATIONAL_TOKEN']}"}

    @task
    def poll(self):
        for path in ("/api/v1/stats/totals", "/api/v1/stats/by-prefecture", "/api/v1/stats/timeseries?interval=day"):
            self.client.get(path, name=f"GET {path.split('?')[0].removeprefix('/api/v1')}", headers=self.headers)


@events.quitting.add_listener
def write_acknowledged(environment, **_):
    with open(os.environ["LAUNCH_ACKNOWLEDGED"], "w") as f:
        json.dump(ACKNOWLEDGED, f)
