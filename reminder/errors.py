"""Errors that reach a user: each carries a message a person can act on."""


class InputError(ValueError):
    """Bad input. ``field`` names what to fix; the request writes nothing and answers 4xx.

    ``code`` is the machine-readable reason the API returns (``invalid`` unless a rule names its own,
    such as ``over_ceiling`` or ``clinician_only``).
    """

    def __init__(self, field: str | None, message: str, status: int = 400, code: str = "invalid"):
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message
        self.status = status
