"""The smallest Panel app that does what the arena does on Generate: a click handled by an
async callback that puts escaped text into an HTML pane and enables a button. Its
click-to-visible time is Panel's own round trip on this machine: the floor under the
arena's overhead. `python -m benchmark.panel_floor_app --port P`"""

from __future__ import annotations

import argparse

import panel as pn


def page() -> pn.viewable.Viewable:
    go = pn.widgets.Button(name="Generate")
    target = pn.widgets.Button(name="A is better", disabled=True)
    text = pn.pane.HTML('<pre class="arena-text"><span class="continuation"></span></pre>')

    async def on_click(_event) -> None:  # type: ignore[no-untyped-def]
        with pn.io.hold():
            text.object = '<pre class="arena-text"><span class="continuation">hej</span></pre>'
            target.disabled = False

    def reset(_event) -> None:  # type: ignore[no-untyped-def]
        with pn.io.hold():
            text.object = '<pre class="arena-text"><span class="continuation"></span></pre>'
            target.disabled = True

    new_round = pn.widgets.Button(name="New round")
    go.on_click(on_click)
    new_round.on_click(reset)
    return pn.Column(go, text, target, new_round)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    pn.serve(
        {"arena": page},
        port=args.port,
        address="127.0.0.1",
        show=False,
        websocket_origin=[f"127.0.0.1:{args.port}"],
    )


if __name__ == "__main__":
    main()
