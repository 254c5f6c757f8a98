"""PDF/A from the robot's own searchable PDF (the profile's `pdfa` output; part `pdfa = "2b"`
by default, `"1b"` selectable), as OCRmyPDF's "speculative" conversion does it, with pikepdf:
an sRGB OutputIntent (the ICC's own sRGB profile), XMP metadata that agrees with
the document information and claims the part and conformance, a trailer ID, streams written
whole (no object streams for part 1). The pages are kept as they are: their text layer is the
searchable PDF's.

A document whose pages cannot be kept as they are (a font not embedded, transparency for part
1, encryption) is not made PDF/A: `convert` raises NotArchivable with the reason, and the robot
delivers the plain searchable PDF under the same name, the reason in the job's history."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

PARTS = ("1b", "2b")
XMP_SKELETON = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:pdf="http://ns.adobe.com/pdf/1.3/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"/>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


class NotArchivable(Exception):
    """The document cannot be made PDF/A as it is; the message says why."""


def srgb_profile() -> bytes:
    """The International Color Consortium's sRGB profile (sRGB2014.icc, ICC version 2, which
    PDF/A-1 requires; shipped in the package, free to embed: sRGB2014.icc.LICENSE)."""
    from importlib import resources

    return resources.files("cora_ocr.robot").joinpath("sRGB2014.icc").read_bytes()


def convert(source: bytes, part: str, title: str, producer: str) -> bytes:
    """The PDF/A of `source` (a searchable PDF); NotArchivable with the reason otherwise.
    Pages whose fonts are not embedded (a born-digital page read from its own text layer)
    go through Ghostscript's pdfwrite first, which embeds them, where it is installed."""
    import pikepdf

    version, conformance = part[0], part[1].upper()
    try:
        pdf = pikepdf.open(io.BytesIO(source))
    except pikepdf.PasswordError:
        raise NotArchivable("the PDF is encrypted") from None
    problem = _problem(pdf, part)
    if problem is not None:
        pdf.close()
        pdf = pikepdf.open(io.BytesIO(_through_ghostscript(source, part, problem)))
        problem = _problem(pdf, part)
        if problem is not None:
            pdf.close()
            raise NotArchivable(f"{problem}, even through Ghostscript")
    with pdf:
        _name_cid_maps(pdf)
        icc = pdf.make_stream(srgb_profile())
        icc.N = 3
        intent = pikepdf.Dictionary(
            Type=pikepdf.Name.OutputIntent,
            S=pikepdf.Name.GTS_PDFA1,
            OutputConditionIdentifier=pikepdf.String("sRGB"),
            Info=pikepdf.String("sRGB IEC61966-2.1"),
            DestOutputProfile=icc,
        )
        pdf.Root.OutputIntents = pikepdf.Array([intent])
        now = dt.datetime.now(dt.UTC)
        pdf.docinfo["/Title"] = pikepdf.String(title)
        pdf.docinfo["/Producer"] = pikepdf.String(producer)
        pdf.docinfo["/CreationDate"] = pikepdf.String(_pdf_date(now))
        pdf.docinfo["/ModDate"] = pikepdf.String(_pdf_date(now))
        # The schemas declared where PDF/A validators look for them (the rdf:Description),
        # not on each property as an empty packet would get them.
        skeleton = pdf.make_stream(XMP_SKELETON.encode())
        skeleton.Type, skeleton.Subtype = pikepdf.Name.Metadata, pikepdf.Name.XML
        pdf.Root.Metadata = skeleton
        with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
            meta.load_from_docinfo(pdf.docinfo)
            meta["dc:title"] = title
            meta["dc:format"] = "application/pdf"
            meta["pdf:Producer"] = producer
            meta["xmp:CreateDate"] = now.isoformat()
            meta["xmp:ModifyDate"] = now.isoformat()
            meta["pdfaid:part"] = version
            meta["pdfaid:conformance"] = conformance
        out = io.BytesIO()
        pdf.save(
            out,
            force_version="1.4" if version == "1" else "1.7",
            object_stream_mode=pikepdf.ObjectStreamMode.disable,
            fix_metadata_version=False,
        )
        return out.getvalue()


def _problem(pdf: Any, part: str) -> str | None:
    """Why the pages cannot be kept as they are in PDF/A-`part`, or None."""
    import pikepdf

    for number, page in enumerate(pdf.pages, 1):
        resources = page.obj.get("/Resources", pikepdf.Dictionary())
        for name, font in dict(resources.get("/Font", pikepdf.Dictionary())).items():
            if not _embedded(font):
                base = str(font.get("/BaseFont", name)).lstrip("/")
                return f"page {number}: its font {base} is not embedded"
        if part == "1b" and "/Group" in page.obj:
            return f"page {number}: transparency, which PDF/A-1 does not allow"
    return None


def _through_ghostscript(source: bytes, part: str, problem: str) -> bytes:
    """The document rewritten by Ghostscript's pdfwrite as PDF/A (it embeds the fonts), or
    NotArchivable where Ghostscript is not installed or refuses."""
    import shutil
    import subprocess
    import tempfile

    gs = shutil.which("gs")
    if gs is None:
        raise NotArchivable(f"{problem}, and Ghostscript, which would embed it, is not installed")
    with tempfile.TemporaryDirectory(prefix="cora-ocr-pdfa-") as folder:
        given, made = Path(folder) / "in.pdf", Path(folder) / "out.pdf"
        given.write_bytes(source)
        done = subprocess.run(
            [
                gs,
                "-q",
                "-dSAFER",
                "-dBATCH",
                "-dNOPAUSE",
                f"-dPDFA={part[0]}",
                "-dPDFACompatibilityPolicy=1",
                "-sColorConversionStrategy=RGB",
                "-sDEVICE=pdfwrite",
                f"-sOutputFile={made}",
                str(given),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0 or not made.is_file():
            raise NotArchivable(f"{problem}; Ghostscript failed: {done.stderr.strip()[:200]}")
        return made.read_bytes()


def _name_cid_maps(pdf: Any) -> None:
    """A CIDFontType2 font without /CIDToGIDMap maps CIDs to glyphs one to one (the PDF
    specification's default); PDF/A-1 wants that said: /Identity, the same mapping."""
    import pikepdf

    for page in pdf.pages:
        fonts = page.obj.get("/Resources", pikepdf.Dictionary()).get("/Font", {})
        for font in dict(fonts).values():
            for descendant in font.get("/DescendantFonts", []):
                if (
                    descendant.get("/Subtype") == "/CIDFontType2"
                    and "/CIDToGIDMap" not in descendant
                ):
                    descendant.CIDToGIDMap = pikepdf.Name.Identity


def _embedded(font: Any) -> bool:
    if font.get("/Subtype") == "/Type3":
        return True  # glyphs drawn by the PDF itself
    descriptors = [font.get("/FontDescriptor")]
    for descendant in font.get("/DescendantFonts", []):
        descriptors.append(descendant.get("/FontDescriptor"))
    descriptors = [item for item in descriptors if item is not None]
    return bool(descriptors) and all(
        any(key in item for key in ("/FontFile", "/FontFile2", "/FontFile3"))
        for item in descriptors
    )


def _pdf_date(moment: dt.datetime) -> str:
    return moment.strftime("D:%Y%m%d%H%M%S+00'00'")


def preflight(path: Path, java: str = "java") -> tuple[bool, list[str]]:
    """Apache PDFBox's Preflight on `path` (Debian's libpdfbox2-java): (valid, its errors).
    Preflight 2.0 validates PDF/A-1b; the tests use it for both parts (docs: which checks)."""
    import subprocess

    jars = ":".join(
        f"/usr/share/java/{name}.jar"
        for name in (
            "preflight",
            "pdfbox2",
            "fontbox2",
            "xmpbox",
            "commons-logging",
            "javax.activation",
            "jaxb-api",
        )
    )
    done = subprocess.run(
        [java, "-cp", jars, "org.apache.pdfbox.preflight.Validator_A1b", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    valid = any(" is a valid PDF/A-1b file" in line for line in lines)
    return valid, [line for line in lines if not line.startswith("The file ")]
