"""The report object diagnose() and explain() return."""

from __future__ import annotations

import copy
import html
from typing import Any, Dict, List


class DoctorError(Exception):
    """The doctor could not run: bad arguments (its exit code 2, with the
    cause in its words), or the binary missing, stopped or unreadable."""

    def __init__(self, message: str, exit_code: int = 0) -> None:
        super().__init__(message)
        self.exit_code = exit_code


_MARK = {"pass": "✔", "warn": "‼", "fail": "✖", "skip": "–"}
_COLOUR = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e", "skip": "#6e7781"}


class Report:
    """One answer of the doctor.

    ``ok`` is its verdict (a diagnosis: nothing failed; an explanation: the
    text named a known failure), ``json`` the binary's ``-o json`` document
    as a dict, ``str(report)`` its text, and in Jupyter it shows as an HTML
    table. Everything in it was masked by the doctor before it left the
    binary: no token, cookie or password appears in any form.
    """

    def __init__(self, kind: str, data: Dict[str, Any], text: str, exit_code: int) -> None:
        self._kind = kind  # "diagnosis" or "explanation"
        self._data = data
        self._text = text
        self.exit_code = exit_code

    @property
    def ok(self) -> bool:
        if self._kind == "explanation":
            return bool(self._data.get("matched"))
        return bool(self._data.get("ok"))

    @property
    def json(self) -> Dict[str, Any]:
        """The -o json document (a copy: changing it changes no report)."""
        return copy.deepcopy(self._data)

    @property
    def kfd(self) -> List[str]:
        """The catalogue ids the report names, in its order."""
        if self._kind == "explanation":
            return [m.get("id", "") for m in self._data.get("matches") or []]
        return [r["kfd"] for r in self._data.get("results", []) if r.get("kfd") and r.get("status") in ("fail", "warn")]

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        verdict = "OK" if self.ok else ("FAILED" if self._kind == "diagnosis" else "no match")
        ids = " ".join(self.kfd)
        return f"<kfp_doctor.Report {self._kind} {verdict}{': ' + ids if ids else ''}>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython's terminal
        p.text(self._text)

    def _repr_html_(self) -> str:
        if self._kind == "explanation":
            return _explanation_html(self._data, self._text)
        return _diagnosis_html(self._data)


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _link(doc: str, label: str) -> str:
    if doc.startswith("https://"):
        return f'<a href="{_e(doc)}" target="_blank" rel="noopener">{_e(label)}</a>'
    return _e(label)


def _diagnosis_html(d: Dict[str, Any]) -> str:
    rows = []
    for r in d.get("results", []):
        st = r.get("status", "")
        kfd = r.get("kfd") or ""
        note = _e(r.get("message"))
        if r.get("hint") and st in ("fail", "warn"):
            note += f'<br><small><b>hint:</b> {_e(r.get("hint"))}</small>'
        rows.append(
            "<tr>"
            f'<td style="color:{_COLOUR.get(st, "inherit")};text-align:center">{_MARK.get(st, _e(st))}</td>'
            f"<td><code>{_e(r.get('probe'))}</code></td>"
            f"<td>{_link(r.get('doc') or '', kfd) if kfd else ''}</td>"
            f'<td style="text-align:left">{note}</td>'
            "</tr>"
        )
    s = d.get("summary", {})
    verdict = "OK" if d.get("ok") else "FAILED"
    colour = _COLOUR["pass"] if d.get("ok") else _COLOUR["fail"]
    return (
        '<div class="kfp-doctor">'
        f"<p><b>kfp-doctor →</b> <code>{_e(d.get('target'))}</code><br><small>{_e(d.get('details'))}</small></p>"
        '<table><thead><tr><th></th><th>probe</th><th>id</th><th style="text-align:left">finding</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        f'<p><b style="color:{colour}">{verdict}</b>: {s.get("passed", 0)} passed, {s.get("warnings", 0)} warnings, '
        f'{s.get("failed", 0)} failed, {s.get("skipped", 0)} skipped in {d.get("elapsed_ms", 0)} ms</p>'
        "</div>"
    )


def _explanation_html(d: Dict[str, Any], text: str) -> str:
    if not d.get("matched"):
        return f'<div class="kfp-doctor"><pre>{_e(text)}</pre></div>'
    rows = []
    for m in d.get("matches") or []:
        title = _e(m.get("title"))
        if not m.get("certain", True):
            title += " <small>(possible, not certain)</small>"
        rows.append(
            "<tr>"
            f"<td>{_link(m.get('doc') or '', m.get('id', ''))}</td>"
            f'<td style="text-align:left">{title}<br><small><b>cause:</b> {_e(m.get("cause"))}<br>'
            f'<b>fix:</b> {_e(m.get("fix"))}<br><b>confirm:</b> <code>{_e(m.get("confirm"))}</code></small></td>'
            "</tr>"
        )
    return (
        '<div class="kfp-doctor"><table><thead><tr><th>id</th><th style="text-align:left">what the text names</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
