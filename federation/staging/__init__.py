"""Model staging (issue 14): which variant of a model version each subscribed cluster gets,
where its mirror lives (``plan``), a read-only view of a registry version as a distributors
source (``source``), variant builds (``converters``) and the blocking worker that builds,
fans out, verifies and prunes (``worker``). The hub runs the worker in a thread."""
