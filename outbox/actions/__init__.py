"""Local actions, one module per kind; each function takes the `OutboxContext` first and is
bound as a method of `outbox.service.Outbox`."""
