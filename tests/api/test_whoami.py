"""GET /api/v1/whoami: each token's name and role (what the dashboard disables by); dev mode."""
import apilib


def test_whoami_names_each_tokens_role(server, reader, writer, admin, anon):
    for client, name, role in ((reader, "reader", "read"), (writer, "writer", "write"),
                               (admin, "admin", "admin")):
        assert client.get("/api/v1/whoami", expect=200).json() == {"token": name, "role": role}
    # A wrong or missing token is 401: how the dashboard tells a wrong token from a right one.
    r = anon.get("/api/v1/whoami", token="not-a-configured-token", expect=401)
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    anon.get("/api/v1/whoami", expect=401)


def test_whoami_in_dev_mode_is_admin(make_server):
    s = make_server(tokens={})
    assert s.api(None).get("/api/v1/whoami", expect=200).json() == {"token": "dev", "role": "admin"}


def test_tokens_from_the_environment_are_named_by_their_role(make_server):
    """STATESNAP_TOKEN_<ROLE> adds a token named env-<role> (as the README says)."""
    env = {"STATESNAP_TOKEN_READ": "r" * 40, "STATESNAP_TOKEN_WRITE": "w" * 40,
           "STATESNAP_TOKEN_ADMIN": "a" * 40}
    s = make_server(tokens={}, env=env)
    for tok, name, role in (("r" * 40, "env-read", "read"), ("w" * 40, "env-write", "write"),
                            ("a" * 40, "env-admin", "admin")):
        assert s.api(tok).get("/api/v1/whoami", expect=200).json() == {"token": name, "role": role}
