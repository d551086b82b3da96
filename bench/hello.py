"""The ceiling: a bare FastAPI app, served by the same gunicorn settings as Shipyard."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def hello() -> dict[str, str]:
    """The smallest JSON answer FastAPI can give."""
    return {"hello": "world"}
