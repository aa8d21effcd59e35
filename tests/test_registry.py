import pytest

from chaosbench.errors import ChaosbenchError, UnknownNameError
from chaosbench.registry import Registry


def test_register_get_names_and_meta():
    reg = Registry("widget")
    reg.register("alpha", 1, colour="red")
    reg.register("beta", 2)
    assert reg.get("alpha") == 1
    assert reg.names() == ["alpha", "beta"]
    assert reg.meta("alpha") == {"colour": "red"}
    assert "beta" in reg and "gamma" not in reg


def test_unknown_name_lists_closest_names_in_one_line():
    reg = Registry("widget")
    for name in ("lorenz63", "lorenz96", "rossler"):
        reg.register(name, name)
    with pytest.raises(UnknownNameError) as err:
        reg.get("lorenz")
    message = str(err.value)
    assert "\n" not in message
    assert "unknown widget 'lorenz'" in message and "'lorenz63'" in message and "'lorenz96'" in message


def test_duplicate_registration_is_an_error():
    reg = Registry("widget")
    reg.register("a", 1)
    with pytest.raises(ChaosbenchError):
        reg.register("a", 2)
    reg.register("a", 3, overwrite=True)
    assert reg.get("a") == 3


def test_loader_runs_once_on_first_lookup():
    calls = []

    def loader(reg):
        calls.append(1)
        reg.register("late", 42)

    reg = Registry("widget", loader=loader)
    assert reg.get("late") == 42
    assert reg.names() == ["late"]
    assert calls == [1]
