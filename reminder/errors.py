"""Errors that reach a user: each carries a message a person can act on."""


class InputError(ValueError):
    """Bad input. ``field`` names what to fix; the request writes nothing and answers 4xx.

    ``code`` is the machine-readable reason the API returns (``invalid`` unless a rule names its own,
    such as ``over_ceiling`` or ``clinician_only``). ``step`` is the 1-based step of a taper or
    titration plan the message is about, so a form can show it beside that row.
    """

    def __init__(
        self, field: str | None, message: str, status: int = 400, code: str = "invalid", step: int | None = None
    ):
        super().__init__(message)
        self.step = step
        self.code = code
        self.field = field
        self.message = message
        self.status = status
