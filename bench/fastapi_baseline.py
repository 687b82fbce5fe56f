"""The baseline bench/serve.py measures zoo serve against: the FastAPI + ONNX Runtime server people
write by hand. It takes TF Serving's REST body and calls `session.run` once per request, on the
event loop (on one core a thread pool would only add switches), with zoo serve's session options.

    python bench/fastapi_baseline.py VERSION_DIR PORT
"""

import sys
from pathlib import Path

import numpy as np
import onnxruntime
import uvicorn
from fastapi import FastAPI, Request

from zoo.serving.core.servables import onnx_session

app = FastAPI()
session: onnxruntime.InferenceSession


@app.get("/health")
async def health() -> dict:
    return {"ok": True}


@app.post("/v1/models/{name}:predict")
async def predict(name: str, request: Request) -> dict:
    body = await request.json()
    images = np.asarray(body["instances"], np.float32)
    probabilities, classes = session.run(["probabilities", "classes"], {"images": images})
    return {
        "predictions": [
            {"probabilities": p, "classes": c}
            for p, c in zip(probabilities.tolist(), classes.tolist(), strict=True)
        ]
    }


if __name__ == "__main__":
    version_dir, port = Path(sys.argv[1]), int(sys.argv[2])
    session, _ = onnx_session(version_dir / "model.onnx")
    uvicorn.run(app, port=port, log_level="error", access_log=False)
