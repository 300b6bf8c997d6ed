import pytest

from registry.certificates.keys import EXTENSION, CertificateKey


@pytest.fixture(scope="session", autouse=True)
def certificate_key(app):
    """A throw-away signing key passed in the config, so tests never write one under instance/."""
    key = CertificateKey.generate()
    app.config["CERTIFICATE_SIGNING_KEY"] = key.private_pem().decode()
    app.extensions.pop(EXTENSION, None)
    return key
