"""The store's statements as text, without a database."""

from __future__ import annotations

import importlib
import pkgutil

from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH

import ordering.store


def test_every_statement_of_the_store_fits_psycopgs_parse_cache() -> None:
    # Given every statement the store sends (its modules' SQL constants)
    statements = {
        f"{module.name}.{name}": value
        for module in pkgutil.iter_modules(ordering.store.__path__, "ordering.store.")
        for name, value in vars(importlib.import_module(module.name)).items()
        if name.isupper() and isinstance(value, str) and any(word in value for word in ("SELECT", "INSERT", "UPDATE"))
    }
    assert "ordering.store.orders._ADD_ITEM" in statements
    # Then psycopg caches the parsing of each (a longer one is parsed anew at every request: for
    # add-to-cart's, 0.15 ms of CPU)
    too_long = {
        name: len(text.encode())
        for name, text in statements.items()
        if len(text.encode()) > MAX_CACHED_STATEMENT_LENGTH
    }
    assert too_long == {}
