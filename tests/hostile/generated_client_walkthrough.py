#!/usr/bin/env python3
"""The seed's walk-through (README.md "Walk-through", docs/api.md), driven through the Python
client that OpenAPI Generator made from the served OpenAPI document: every request goes through
the generated API classes (`AuthApi.auth_register`, `PatientsApi.patients_create`, ...: classes
named after the document's tags, methods after its operationIds), and every answer is checked as
the typed model the generated client deserialised it into. Request bodies are passed as dicts,
which the generated methods validate into their models (pydantic `validate_call`), and each
answer's type is checked against the return type the generated method declares, so nothing here
depends on the names of the generated model classes.

Run by tests/hostile/generated_client.sh, against a fresh database whose only account is an
admin made with `healthcare create-user`:

    generated_client_walkthrough.py BASE_URL ADMIN_USERNAME TAG   (admin password on stdin)

TAG makes the usernames and the licence number of this run unique on its database. Exits
non-zero, naming the step, at the first answer that is not as documented.
"""

import datetime as dt
import json
import sys
import typing

import pydantic

import healthcare_client as hc
from healthcare_client import ApiException

UTC = dt.timezone.utc
PASSWORD = "walk-through correct horse 7"
calls = 0
step_name = ""


def step(name):
    global step_name
    step_name = name
    print(f"== {name}", flush=True)


def check(condition, what):
    if not condition:
        raise AssertionError(f"step {step_name!r}: {what}")


def api(token=None):
    """A generated client for BASE, with a bearer token when given."""
    config = hc.Configuration(host=BASE)
    if token is not None:
        config.access_token = token
    client = hc.ApiClient(config)
    return {
        "auth": hc.AuthApi(client),
        "patients": hc.PatientsApi(client),
        "doctors": hc.DoctorsApi(client),
        "mappings": hc.MappingsApi(client),
        "appointments": hc.AppointmentsApi(client),
        "operations": hc.OperationsApi(client),
    }


def conforms(data, hint):
    """Whether `data` is what a generated method declares it returns: its model (a pydantic
    model made from the document's schema), a list of them, or None (an answer without body)."""
    if hint is None or hint is type(None):
        return data is None
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return isinstance(data, list) and all(conforms(x, item) for x in data)
    return isinstance(hint, type) and issubclass(hint, pydantic.BaseModel) and isinstance(data, hint)


def call(method, *args, **kwargs):
    """Calls a generated `*_with_http_info` method; answers (status, headers, typed data), the
    data checked to be of the type the generated method declares (from the document), so the
    steps below need no model class names."""
    global calls
    calls += 1
    response = method(*args, **kwargs)
    plain = getattr(method.__self__, method.__name__.removesuffix("_with_http_info"))
    declared = typing.get_type_hints(plain).get("return")
    print(f"   {plain.__name__} -> {response.status_code} {type(response.data).__name__}", flush=True)
    check(conforms(response.data, declared), f"{plain.__name__} answered {response.data!r}, not a {declared}")
    return response.status_code, response.headers or {}, response.data


def refused(method, *args, **kwargs):
    """Calls a generated method that must be refused: answers the generated ApiException, whose
    `data` the client deserialised as the type the document gives that status (None when the
    document gives the status no body, or the body does not parse as that type)."""
    global calls
    calls += 1
    try:
        method(*args, **kwargs)
    except ApiException as e:
        print(f"   {method.__name__} -> {e.status} {type(e.data).__name__} (refused, as it must be): {e.body}",
              flush=True)
        check(isinstance(e.data, pydantic.BaseModel),
              f"the {e.status} body was not deserialised as a documented type: {e.body!r}")
        return e
    raise AssertionError(f"step {step_name!r}: {method.__name__} was not refused")


def header(headers, name):
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def main():
    global BASE
    BASE, admin_username, tag = sys.argv[1], sys.argv[2], sys.argv[3]
    admin_password = sys.stdin.readline().rstrip("\n")
    print(f"generated client: {hc.__file__}", flush=True)
    anonymous = api()

    step("health and readiness (no auth)")
    status, _, health = call(anonymous["operations"].health_with_http_info)
    check(status == 200 and health.status == "ok", f"health: {health!r}")
    status, _, ready = call(anonymous["operations"].ready_with_http_info)
    check(status == 200 and ready.status == "ready", f"ready: {ready!r}")

    step("register a patient account (POST /api/auth/register/, auth_register)")
    alice_name = f"alice-{tag}"
    status, headers, alice = call(anonymous["auth"].auth_register_with_http_info,
                                  {"username": alice_name, "email": "alice@example.org", "password": PASSWORD})
    check(status == 201, f"status {status}")
    check(alice.message == "User registered successfully", f"message {alice.message!r}")
    check(alice.username == alice_name and alice.email == "alice@example.org", repr(alice))
    check(alice.role == "patient" and alice.is_active is True, f"role {alice.role!r}, active {alice.is_active!r}")
    check(isinstance(alice.id, int) and alice.id > 0, f"id {alice.id!r}")
    check(isinstance(alice.date_joined, dt.datetime) and alice.date_joined.tzinfo is not None,
          f"date_joined {alice.date_joined!r}")
    check(header(headers, "X-Request-Id"), "no X-Request-Id header")

    step("register through the seed's path (POST /api/auth/, auth_register_seed)")
    bob_name = f"bob-{tag}"
    status, _, bob = call(anonymous["auth"].auth_register_seed_with_http_info,
                          {"username": bob_name, "password": PASSWORD})
    check(status == 201, f"status {status}")
    check(bob.username == bob_name and bob.role == "patient" and bob.email == "", repr(bob))
    check(bob.id != alice.id, "the two registrations share an id")

    step("a taken username is refused (400, field-keyed Error)")
    e = refused(anonymous["auth"].auth_register, {"username": alice_name, "password": PASSWORD})
    check(e.status == 400, f"status {e.status}")
    check("username" in e.data.to_dict(), f"data {e.data!r}")

    step("log in as the admin (POST /api/token/, auth_token_obtain)")
    status, _, admin_pair = call(anonymous["auth"].auth_token_obtain_with_http_info,
                                 {"username": admin_username, "password": admin_password})
    check(status == 200, f"status {status}")
    check(admin_pair.access and admin_pair.refresh and admin_pair.access != admin_pair.refresh, "token pair")
    admin = api(admin_pair.access)
    status, _, me = call(admin["auth"].auth_me_with_http_info)
    check(me.username == admin_username and me.role == "admin" and me.doctor is None,
          repr(me))

    step("the admin creates a doctor (doctors_create)")
    licence = f"LIC-{tag}"
    status, _, doctor = call(admin["doctors"].doctors_create_with_http_info, {
        "first_name": "Gregory", "last_name": "House", "specialization": "GP",
        "contact_number": "555 0101", "email": "house@example.org", "license_number": licence,
        "hospital": "PPTH", "experience_years": 12})
    check(status == 201, f"status {status}")
    check(isinstance(doctor.id, int) and doctor.id > 0, f"id {doctor.id!r}")
    check((doctor.first_name, doctor.last_name, doctor.specialization) == ("Gregory", "House", "GP"), repr(doctor))
    check(doctor.license_number == licence and doctor.hospital == "PPTH" and doctor.experience_years == 12,
          repr(doctor))
    check(doctor.email == "house@example.org" and doctor.address == "" and doctor.user is None, repr(doctor))
    status, _, same = call(admin["doctors"].doctors_get_with_http_info, doctor.id)
    check(same == doctor, f"doctors_get answered {same!r}, not {doctor!r}")
    status, headers, found = call(admin["doctors"].doctors_list_with_http_info, search="House", specialization="GP")
    check([d.id for d in found] == [doctor.id], f"doctors_list: {[d.id for d in found]}")
    check(header(headers, "X-Total-Count") == "1", f"X-Total-Count {header(headers, 'X-Total-Count')!r}")

    step("the patient logs in and creates their patient record (patients_create)")
    _, _, alice_pair = call(anonymous["auth"].auth_token_obtain_with_http_info,
                            {"username": alice_name, "password": PASSWORD})
    as_alice = api(alice_pair.access)
    status, _, patient = call(as_alice["patients"].patients_create_with_http_info, {
        "first_name": "Jane", "last_name": "Doe", "date_of_birth": "1990-05-17", "gender": "F",
        "contact_number": "+1 555 0100", "address": "1 Main St"})
    check(status == 201, f"status {status}")
    check(patient.user == alice.id, f"owner {patient.user!r}, not {alice.id}")
    check(patient.date_of_birth == dt.date(1990, 5, 17) and patient.gender == "F", repr(patient))
    check(patient.address == "1 Main St" and patient.email == "" and patient.medical_history == "", repr(patient))
    today = dt.datetime.now(UTC).date()
    age = today.year - 1990 - ((today.month, today.day) < (5, 17))
    check(patient.age in (age - 1, age, age + 1), f"age {patient.age!r}, about {age} expected")
    check(isinstance(patient.created_at, dt.datetime), f"created_at {patient.created_at!r}")

    step("map the doctor to the patient (mappings_create)")
    status, _, mapping = call(as_alice["mappings"].mappings_create_with_http_info, {
        "doctor": doctor.id, "patient": patient.id, "reason_for_assignment": "Primary care", "is_active": True})
    check(status == 201, f"status {status}")
    check((mapping.doctor, mapping.patient, mapping.is_active) == (doctor.id, patient.id, True), repr(mapping))
    check(mapping.assigned_by == alice.id and mapping.assigned_by_username == alice_name, repr(mapping))
    check(mapping.reason_for_assignment == "Primary care", repr(mapping))
    check(mapping.reactivated_by is None and mapping.reactivated_at is None, repr(mapping))
    check(isinstance(mapping.assigned_date, dt.date), f"assigned_date {mapping.assigned_date!r}")

    step("list the patient's mappings (GET /api/mappings/patient/{id}/, mappings_of_patient)")
    status, _, of_patient = call(as_alice["mappings"].mappings_of_patient_with_http_info, patient.id)
    check(status == 200 and len(of_patient) == 1, f"status {status}, {len(of_patient)} mappings")
    entry = of_patient[0]
    check(entry.id == mapping.id and entry.assigned_by == alice.id, repr(entry))
    check(entry.doctor_details.to_dict() == doctor.to_dict(), f"doctor_details {entry.doctor_details!r}")
    status, _, listed = call(admin["mappings"].mappings_list_with_http_info, patient=patient.id, is_active=True)
    check([m.id for m in listed] == [mapping.id], f"mappings_list: {[m.id for m in listed]}")

    step("book an appointment (appointments_create)")
    start = dt.datetime(today.year + 4, 12, 20, 10, 30, tzinfo=UTC)
    status, _, appointment = call(as_alice["appointments"].appointments_create_with_http_info, {
        "doctor": doctor.id, "patient": patient.id, "appointment_datetime": start.isoformat(),
        "reason": "Routine follow-up"})
    check(status == 201, f"status {status}")
    check((appointment.doctor, appointment.patient) == (doctor.id, patient.id), repr(appointment))
    check(appointment.appointment_datetime == start, f"start {appointment.appointment_datetime!r}")
    check(appointment.duration_minutes == 30, f"duration {appointment.duration_minutes!r}")
    check(appointment.end_datetime == start + dt.timedelta(minutes=30), f"end {appointment.end_datetime!r}")
    check(appointment.status == "SCHEDULED" and appointment.reason == "Routine follow-up", repr(appointment))
    check(appointment.cancellation_reason == "" and appointment.created_by == alice.id, repr(appointment))

    step("double booking is refused: 409, the documented error body")
    _, _, bob_pair = call(anonymous["auth"].auth_token_obtain_with_http_info,
                          {"username": bob_name, "password": PASSWORD})
    as_bob = api(bob_pair.access)
    _, _, bob_patient = call(as_bob["patients"].patients_create_with_http_info, {
        "first_name": "John", "last_name": "Roe", "date_of_birth": "1985-01-02", "gender": "M",
        "contact_number": "555 0102"})
    check(bob_patient.user == bob.id, repr(bob_patient))
    overlapping = {"doctor": doctor.id, "patient": bob_patient.id,
                   "appointment_datetime": (start + dt.timedelta(minutes=15)).isoformat(), "reason": "Again"}
    e = refused(as_bob["appointments"].appointments_create, overlapping)
    check(e.status == 409, f"status {e.status}, not 409")
    # The seed's message, and what it ran into: Alice's appointment, without its id (Bob may
    # not see it).
    body = json.loads(e.body)
    message = ["Doctor already has an appointment at this time."]
    check(body["non_field_errors"] == message, f"409 body {e.body!r}")
    check([c["with"] for c in body["conflicts"]] == ["doctor"] and "id" not in body["conflicts"][0],
          f"409 body {e.body!r}")
    parsed = e.data.to_dict()
    check(parsed["non_field_errors"] == message, f"409 body as the client read it: {e.data!r}")
    check([c["with"] for c in parsed["conflicts"]] == ["doctor"]
          and parsed["conflicts"][0].get("id") is None,
          f"409 body as the client read it: {e.data!r}")
    check(type(e.data).from_json(e.body).to_dict()["non_field_errors"] == message,
          f"409 body {e.body!r}")
    check(header(e.headers or {}, "X-Request-Id"), "no X-Request-Id on the 409")

    step("another account's patient is invisible: 404, Detail")
    e = refused(as_bob["patients"].patients_get, patient.id)
    check(e.status == 404 and e.data.to_dict() == {"detail": "Not found."}, f"{e.status} {e.data!r}")

    step("list appointments (appointments_list, filters and pagination headers)")
    status, headers, mine = call(as_alice["appointments"].appointments_list_with_http_info,
                                 doctor=doctor.id, status="SCHEDULED", limit=10)
    check(status == 200 and [a.id for a in mine] == [appointment.id], f"appointments_list: {[a.id for a in mine]}")
    check(mine[0] == appointment, f"listed {mine[0]!r}, booked {appointment!r}")
    check(header(headers, "X-Total-Count") == "1", f"X-Total-Count {header(headers, 'X-Total-Count')!r}")
    _, _, theirs = call(as_bob["appointments"].appointments_list_with_http_info)
    check(theirs == [], f"bob sees {[a.id for a in theirs]}")

    step("cancel it (PATCH status, appointments_update)")
    status, _, cancelled = call(as_alice["appointments"].appointments_update_with_http_info, appointment.id,
                                {"status": "CANCELLED", "cancellation_reason": "Feeling better"})
    check(status == 200, f"status {status}")
    check(cancelled.id == appointment.id and cancelled.status == "CANCELLED", repr(cancelled))
    check(cancelled.cancellation_reason == "Feeling better", repr(cancelled))
    check(cancelled.appointment_datetime == start and cancelled.created_at == appointment.created_at, repr(cancelled))
    _, _, again = call(admin["appointments"].appointments_get_with_http_info, appointment.id)
    check(again.status == "CANCELLED", f"appointments_get: {again.status!r}")

    step("the slot is free again: the refused booking now succeeds")
    status, _, rebooked = call(as_bob["appointments"].appointments_create_with_http_info, overlapping)
    check(status == 201 and rebooked.status == "SCHEDULED" and rebooked.patient == bob_patient.id, repr(rebooked))
    _, _, scheduled = call(admin["appointments"].appointments_list_with_http_info,
                           doctor=doctor.id, status="SCHEDULED", ordering="id")
    check([a.id for a in scheduled] == [rebooked.id], f"scheduled: {[a.id for a in scheduled]}")
    _, _, both = call(admin["appointments"].appointments_list_with_http_info,
                      doctor=doctor.id, status="SCHEDULED,CANCELLED", ordering="id")
    check([a.id for a in both] == [appointment.id, rebooked.id], f"both: {[a.id for a in both]}")

    step("refresh the token pair (auth_token_refresh)")
    status, _, refreshed = call(anonymous["auth"].auth_token_refresh_with_http_info, {"refresh": alice_pair.refresh})
    check(status == 200, f"status {status}")
    check(refreshed.refresh != alice_pair.refresh and refreshed.access != alice_pair.access, "the pair did not change")
    as_alice = api(refreshed.access)
    _, _, me = call(as_alice["auth"].auth_me_with_http_info)
    check(me.id == alice.id and me.role == "patient" and me.doctor is None, repr(me))

    step("log out (auth_token_revoke, 204 without a body)")
    status, _, nothing = call(anonymous["auth"].auth_token_revoke_with_http_info, {"refresh": refreshed.refresh})
    check(status == 204 and nothing is None, f"status {status}, data {nothing!r}")
    e = refused(as_alice["auth"].auth_me)
    check(e.status == 401 and e.data.to_dict() == {"detail": "Token is blacklisted"}, f"{e.status} {e.data!r}")
    e = refused(anonymous["auth"].auth_token_refresh, {"refresh": refreshed.refresh})
    check(e.status == 401 and "detail" in e.data.to_dict(), f"{e.status} {e.data!r}")

    print(f"walk-through: {calls} calls through the generated client, every answer as documented", flush=True)


if __name__ == "__main__":
    BASE = ""
    main()
