import inspect

import mlfactory
from mlfactory import errors


def classes() -> list[type[errors.MLFactoryError]]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.MLFactoryError)]


def test_every_error_is_drawn_in_the_docstring_and_has_codes() -> None:
    for cls in classes():
        assert cls.__name__ in errors.__doc__, f"{cls.__name__} missing from the tree drawing"
        assert 400 <= cls.http_status <= 599
        assert cls.exit_code >= 1


def test_categories_inherit_builtins() -> None:
    assert issubclass(errors.NotFoundError, LookupError)
    assert issubclass(errors.ConfigError, ValueError)
    assert issubclass(errors.StoreUnavailableError, ConnectionError)
    assert str(errors.NotFoundError("no model 'x'")) == "no model 'x'"


def test_public_names_are_sorted_and_importable() -> None:
    assert mlfactory.__all__ == sorted(mlfactory.__all__)
    for name in mlfactory.__all__:
        assert getattr(mlfactory, name) is not None
