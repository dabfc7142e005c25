"""Errors that reach a user: each carries a message a person can act on."""


class InputError(ValueError):
    """Bad input. ``field`` names what to fix; the request writes nothing and answers 4xx."""

    def __init__(self, field: str | None, message: str, status: int = 400):
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status
