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
