"""For graded test cells: switch library functions off while a student's function runs
(``refusing``; it lives in helpers.core.refusal, where the grading kernel finds it)."""

from helpers.core.refusal import _code_writable, _refusal_code, refusing

__all__ = ["refusing", "_code_writable", "_refusal_code"]
