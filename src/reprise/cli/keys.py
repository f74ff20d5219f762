"""``reprise keys``: the Ed25519 keys that sign release attestations (private half here, public half in the store)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from reprise.cli._context import settings_for
from reprise.cli._output import emit, out_console

if TYPE_CHECKING:
    from reprise.versioning.keys import SigningKey

__all__ = ["app"]

app = typer.Typer(help="Signing keys for release attestations (Ed25519, offline).", no_args_is_help=True)

_JSON = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


@app.command()
def generate(ctx: typer.Context, json_output: _JSON = False) -> None:
    """Make a key pair: the private key to keys_dir (mode 0600, outside the repo), the public key into the store."""
    from reprise.versioning.keys import generate_key

    key = generate_key(settings=settings_for(ctx))
    emit(key.model_dump(mode="json"), as_json=json_output, render=lambda: _render([key]))


@app.command("list")
def list_(ctx: typer.Context, json_output: _JSON = False) -> None:
    """Every key the store trusts or trusted, and whether this machine can sign with it."""
    from reprise.versioning.keys import list_keys

    keys = list_keys(settings=settings_for(ctx))
    emit([key.model_dump(mode="json") for key in keys], as_json=json_output, render=lambda: _render(keys))


@app.command()
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key id (ed25519:...).", show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the key).")] = "",
    json_output: _JSON = False,
) -> None:
    """Stop trusting a key: every attestation it signed is refused from now on."""
    from reprise.versioning.keys import revoke_key

    key = revoke_key(key_id, reason=reason, settings=settings_for(ctx))
    emit(key.model_dump(mode="json"), as_json=json_output, render=lambda: _render([key]))


def _render(keys: list[SigningKey]) -> None:
    console = out_console()
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M} UTC: {key.revoke_reason}" if key.revoked_at else "trusted"
        signer = "can sign here" if key.has_private else "verify only"
        console.print(
            f"{key.key_id}  {state}  ({signer}; by {key.actor} at {key.created_at:%Y-%m-%d %H:%M} UTC)",
            highlight=False,
            markup=False,
        )
