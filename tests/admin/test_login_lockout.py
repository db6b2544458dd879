"""Guessing admin passwords: django-axes locks a username from one address after 10 failures for 15 minutes."""

from datetime import timedelta

from axes.models import AccessAttempt
from django.db.models import F
from django.urls import reverse

LOGIN = reverse("admin:login")
INDEX = reverse("admin:index")


def _sign_in(client, username, password, address="10.0.0.1", **headers):
    form = {"username": username, "password": password}
    return client.post(f"{LOGIN}?next={INDEX}", form, REMOTE_ADDR=address, **headers)


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def _guess(client, times, username="alice", address="10.0.0.1", **headers):
    for n in range(times):
        _sign_in(client, username, f"guess-{n}", address, **headers)


def test_thirty_wrong_passwords_then_the_right_one_does_not_sign_in(client, alice):
    _guess(client, 30)
    response = _sign_in(client, "alice", "pw-alice")
    assert response.status_code == 429
    assert not _signed_in(client)


def test_the_lockout_page_says_plainly_how_long_to_wait(client, alice):
    _guess(client, 10)
    response = _sign_in(client, "alice", "pw-alice")
    page = response.content.decode()
    assert response.status_code == 429 and response["Retry-After"] == str(15 * 60)
    assert "Too many failed sign-ins" in page and "locked for 15 minutes" in page
    assert 'id="id_password"' not in page  # a page to read, not another form to guess on


def test_nine_wrong_passwords_still_let_the_right_one_in(client, alice):
    _guess(client, 9)
    assert _sign_in(client, "alice", "pw-alice").status_code == 302
    assert _signed_in(client)


def test_a_success_clears_the_count(client, alice):
    _guess(client, 9)
    _sign_in(client, "alice", "pw-alice")
    client.logout()
    _guess(client, 9)
    _sign_in(client, "alice", "pw-alice")
    assert _signed_in(client)


def test_signing_in_works_again_after_the_cool_off(client, alice):
    _guess(client, 30)
    # Fifteen minutes and a bit pass: the attempts' times move back instead of the clock moving on.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))
    assert _sign_in(client, "alice", "pw-alice").status_code == 302
    assert _signed_in(client)


def test_the_lock_holds_for_that_username_from_that_address_only(client, alice, bob):
    _guess(client, 10, username="alice", address="10.0.0.1")
    _sign_in(client, "alice", "pw-alice", address="10.0.0.2")
    assert _signed_in(client)
    client.logout()
    _sign_in(client, "bob", "pw-bob", address="10.0.0.1")
    assert _signed_in(client)


def test_a_forged_forwarded_for_header_does_not_dodge_the_lock(client, alice):
    for n in range(10):
        _sign_in(client, "alice", f"guess-{n}", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    response = _sign_in(client, "alice", "pw-alice", HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert response.status_code == 429 and not _signed_in(client)


def test_the_test_clients_login_still_works(client, alice):
    # Django's test client signs in without a request; there is no address to lock.
    assert client.login(username="alice", password="pw-alice")
