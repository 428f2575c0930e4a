"""Demo data: the police forces of England and Wales, the English fire and rescue services, national bodies."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.bodies import service
from rectrack.bodies.models import Body
from rectrack.bodies.schemas import BodyCreate, Contact
from rectrack.common.events.outbox import Outbox

MAIL_DOMAIN = "example.org"

# Where policing is overseen by someone other than a police and crime commissioner.
_LOCAL_POLICING_BODIES = {
    "city-of-london-police": "City of London Police Authority Board",
    "metropolitan-police-service": "Mayor's Office for Policing and Crime",
    "greater-manchester-police": "Mayor of Greater Manchester",
    "west-yorkshire-police": "Mayor of West Yorkshire",
    "south-yorkshire-police": "Mayor of South Yorkshire",
    "north-yorkshire-police": "Mayor of York and North Yorkshire",
    "essex-police": "Police, Fire and Crime Commissioner for Essex",
    "northamptonshire-police": "Police, Fire and Crime Commissioner for Northamptonshire",
    "staffordshire-police": "Police, Fire and Crime Commissioner for Staffordshire",
    "british-transport-police": "British Transport Police Authority",
}
_CHIEF_OFFICERS = {
    "metropolitan-police-service": "Commissioner of Police of the Metropolis",
    "city-of-london-police": "Commissioner, City of London Police",
    "london-fire-brigade": "London Fire Commissioner",
    "college-of-policing": "Chief Executive, College of Policing",
    "national-police-chiefs-council": "Chair, National Police Chiefs' Council",
    "home-office": "Permanent Secretary, Home Office",
    "national-fire-chiefs-council": "Chair, National Fire Chiefs Council",
    "national-crime-agency": "Director General, National Crime Agency",
    "british-transport-police": "Chief Constable, British Transport Police",
}
_FORCE_SUFFIXES = (" Police Service", " Constabulary", " Police")


@dataclass(frozen=True)
class DemoResult:
    """What a demo load did."""

    created: int
    present: int


def _area(force_name: str) -> str:
    for suffix in _FORCE_SUFFIXES:
        if force_name.endswith(suffix):
            return force_name[: -len(suffix)]
    return force_name


def demo_contacts(code: str, name: str, kind: str) -> list[Contact]:
    """A liaison, a chief officer and, for police forces, the local policing body; addresses under example.org."""
    domain = f"{code}.{MAIL_DOMAIN}"
    if code in _CHIEF_OFFICERS:
        chief = _CHIEF_OFFICERS[code]
    elif kind == "police_force":
        chief = f"Chief Constable, {name}"
    elif kind == "fire_and_rescue_service":
        chief = f"Chief Fire Officer, {name}"
    else:
        chief = f"Chief Executive, {name}"
    contacts = [
        Contact(name=f"Inspection Liaison Officer, {name}", email=f"liaison@{domain}", role="liaison"),
        Contact(name=chief, email=f"chief.officer@{domain}", role="chief_officer"),
    ]
    if kind == "police_force" or code in _LOCAL_POLICING_BODIES:
        lpb = _LOCAL_POLICING_BODIES.get(code) or f"Police and Crime Commissioner for {_area(name)}"
        contacts.append(Contact(name=lpb, email=f"local.policing.body@{domain}", role="local_policing_body"))
    return contacts


def demo_bodies() -> list[BodyCreate]:
    """The demo bodies, read from the CSV shipped with this package."""
    text = resources.files(__name__).joinpath("bodies.csv").read_text(encoding="utf-8")
    return [
        BodyCreate(code=row["code"], name=row["name"], kind=row["kind"], region=row["region"] or None,
                   contacts=demo_contacts(row["code"], row["name"], row["kind"]))
        for row in csv.DictReader(io.StringIO(text))
    ]


async def load_demo(session: AsyncSession, *, outbox: Outbox) -> DemoResult:
    """Create every demo body not yet present; a second run changes nothing and records no event."""
    wanted = demo_bodies()
    present = set((await session.execute(select(Body.id).where(Body.id.in_([b.code for b in wanted])))).scalars())
    created = 0
    for body in wanted:
        if body.code not in present:
            await service.create_body(session, outbox=outbox, data=body)
            created += 1
    return DemoResult(created=created, present=len(present))
