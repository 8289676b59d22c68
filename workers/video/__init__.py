"""Remote dual-recording signing (双录面签): WebRTC sessions recorded into the vault.

A process opens a session with the ``video.open_session`` worker (from
:func:`video_workers`), sends the customer's link, and waits for the message
:data:`OUTCOME_MESSAGE` (correlation key :data:`SESSION_KEY`) with a timer boundary at the
session's expiry. Customer (phone H5 page) and bank agent (back-office page) join over the
signaling routes in ``loanflow.api.routes.video``; the server relays their media, records
each participant to its own MP4, and on completion stores both recordings and the session
log in the vault, checks the customer's recording for one face, and correlates the outcome
with document ids and SM3 digests.
"""

from loanflow.workers.video._faces import FaceCheck, FaceDetector, HaarCascade, check_faces
from loanflow.workers.video._recorder import Recorder, RecordingInfo
from loanflow.workers.video._scripts import DEFAULT_SCRIPTS, Disclosure, Script, script_for
from loanflow.workers.video._service import OUTCOME_MESSAGE, SESSION_KEY, VideoService
from loanflow.workers.video._tokens import Claims, TokenError
from loanflow.workers.video._workers import OpenSessionInput, OpenSessionOutput, video_workers
from loanflow.workers.video.settings import IceServer, VideoSettings

__all__ = [
    "DEFAULT_SCRIPTS",
    "OUTCOME_MESSAGE",
    "SESSION_KEY",
    "Claims",
    "Disclosure",
    "FaceCheck",
    "FaceDetector",
    "HaarCascade",
    "IceServer",
    "OpenSessionInput",
    "OpenSessionOutput",
    "Recorder",
    "RecordingInfo",
    "Script",
    "TokenError",
    "VideoService",
    "VideoSettings",
    "check_faces",
    "script_for",
    "video_workers",
]
