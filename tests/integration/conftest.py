import pytest
from registry_fixtures import PASSWORD, USER, Registry, registry_tools  # noqa: F401


def pytest_collection_modifyitems(items):
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def registry(tmp_path_factory, registry_tools):  # noqa: F811
    """A registry of the module's own on loopback, with a login (USER, PASSWORD); a module that
    needs another kind defines its own."""
    reg = Registry(tmp_path_factory.mktemp("registry"), {USER: PASSWORD}).start()
    yield reg
    reg.stop()
