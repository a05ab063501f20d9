"""Running the assistant: the launcher of both servers, and the stores that keep conversations and locks."""
