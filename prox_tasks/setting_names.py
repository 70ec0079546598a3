"""How a message names a setting to whoever set it: the DAG's Param or ``prox``'s option.

The same check runs under a DAG task and under a ``prox`` command; its message must point to
where the user changes the setting (the trigger form's Param, or the command's flag), not to
the other one, which they cannot set there.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Who ran the check: a DAG task, or ``prox``.
CALLERS = ("dag", "cli")


def setting_name(setting: str, caller: str, cli_options: Mapping[str, str] | None = None,
                 dag_params: Mapping[str, str] | None = None) -> str:
    """``setting`` as ``caller`` names it: ``the <Param> Param`` (``dag``) or the option
    (``cli``: ``--<setting>`` with dashes).

    Args:
        setting: The setting's own name (a field, a keyword argument).
        caller: ``dag`` or ``cli``.
        cli_options: Settings whose option is not ``--<setting>`` (``{"seed_value":
            "--random-seed"}``).
        dag_params: Settings whose Param has another name (``{"output": "registry"}``).

    Raises:
        ValueError: An unknown ``caller``.
    """
    if caller not in CALLERS:
        raise ValueError(f"caller {caller!r} is not one of {', '.join(CALLERS)}")
    if caller == "dag":
        return f"the {(dag_params or {}).get(setting, setting)} Param"
    return (cli_options or {}).get(setting) or "--" + setting.replace("_", "-")


def said_to(err: BaseException, caller: str) -> str:
    """``err``'s message for ``caller``: worded for it where the error words itself
    (``worded(caller)``: :class:`~prox_tasks.models.NoModelError` names the ``model`` Param
    to a DAG's user, ``--model`` to a ``prox`` user), else as raised."""
    if callable(getattr(err, "worded", None)):
        return err.worded(caller)
    return str(err)
