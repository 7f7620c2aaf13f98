"""Checks the simulator with the official `openai` client: one streamed completion and one
streamed chat completion, with usage. Usage: openai_client_check.py BASE_URL (exit 1 on failure)."""

import sys

from openai import OpenAI


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: openai_client_check.py BASE_URL", file=sys.stderr)
        return 2
    client = OpenAI(base_url=sys.argv[1].rstrip("/") + "/v1", api_key="unused")
    model = client.models.list().data[0].id
    failures = []

    n_text, usage = 0, None
    stream = client.completions.create(
        model=model, prompt="Hello, world!", max_tokens=12, stream=True,
        stream_options={"include_usage": True}, extra_body={"ignore_eos": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].text:
            n_text += 1
        if chunk.usage is not None:
            usage = chunk.usage
    if n_text != 12:
        failures.append(f"completion: {n_text} text chunks, expected 12")
    if usage is None or (usage.prompt_tokens, usage.completion_tokens) != (4, 12):
        failures.append(f"completion usage {usage}, expected 4 prompt and 12 completion tokens")

    n_text, usage, role = 0, None, None
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hi there"}], max_tokens=9,
        stream=True, stream_options={"include_usage": True}, extra_body={"ignore_eos": True},
    )
    for chunk in stream:
        if chunk.choices:
            delta = chunk.choices[0].delta
            role = role or delta.role
            if delta.content:
                n_text += 1
        if chunk.usage is not None:
            usage = chunk.usage
    if role != "assistant" or n_text != 9:
        failures.append(f"chat: role {role!r}, {n_text} content chunks, expected 'assistant' and 9")
    # "Hi there" is 2 tokens, plus 3 for the message and 1 for the generation prompt.
    if usage is None or (usage.prompt_tokens, usage.completion_tokens) != (6, 9):
        failures.append(f"chat usage {usage}, expected 6 prompt and 9 completion tokens")

    for f in failures:
        print("FAIL:", f, file=sys.stderr)
    if not failures:
        print("ok: completions and chat streams match the requested token counts")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
