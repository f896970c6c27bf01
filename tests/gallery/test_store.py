"""Both gallery stores implement the Store protocol, and a spec names its store."""

from __future__ import annotations

import inspect

import pytest

from lookalike.models.gallery.store import Store, store_class
from lookalike.models.gallery.store_local import LocalStore
from lookalike.models.gallery.store_pg import PgStore

MEMBERS = [name for name, v in vars(Store).items()
           if callable(v) or isinstance(v, classmethod)
           if not name.startswith("_")]


def test_the_protocol_is_not_empty():
    assert {"create_at", "open_at", "search", "add_batch", "remove_person", "check",
            "known_digests", "index_kind"} <= set(MEMBERS)


@pytest.mark.parametrize("cls", [LocalStore, PgStore])
@pytest.mark.parametrize("name", MEMBERS)
def test_each_store_has_each_member_with_its_parameters(cls, name):
    want = inspect.signature(getattr(Store, name))
    have = inspect.signature(getattr(cls, name))
    assert list(have.parameters)[: len(want.parameters)] == list(want.parameters), name
    extra = list(have.parameters.values())[len(want.parameters):]
    assert all(p.default is not p.empty for p in extra), f"{cls.__name__}.{name}: {extra}"
    assert isinstance(inspect.getattr_static(cls, name), classmethod) == isinstance(
        inspect.getattr_static(Store, name), classmethod), name


def test_a_local_store_is_a_store(tmp_path):
    manifest = {"format": "lookalike-gallery", "format_version": 1, "dim": 4,
                "embedder": {"name": "x", "version": "0"}, "threshold": {"similarity": 0.3}}
    store = store_class(str(tmp_path / "g")).create_at(str(tmp_path / "g"), manifest)
    try:
        assert isinstance(store, LocalStore) and isinstance(store, Store)
        assert store.count() == 0 and store.people() == []
    finally:
        store.close()
    again = LocalStore.open_at(str(tmp_path / "g"))
    again.close()


def test_a_spec_names_its_store():
    assert store_class("postgresql://u@h/db#g") is PgStore
    assert store_class("postgres://u@h/db") is PgStore
    assert store_class("some/folder.gallery") is LocalStore
