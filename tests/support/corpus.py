"""Real-world document shapes, made here (no downloads): what scanners, phones and office
software send, and what breaks naive readers. Each shape says what must come of it: its
text (read with under 2% character errors), an empty page, or a refusal with a reason.

Used by tests/integration/test_real_documents.py (through SOAP with the real robot) and bench/ocr.py
("real shapes")."""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFont, ImageOps, TiffImagePlugin

from cora_ocr.robot import samples


@dataclass(frozen=True)
class Shape:
    name: str  # the file name, its extension the document's type
    make: Callable[[], bytes]
    text: tuple[str, ...] = ()  # lines expected, in order; none: an empty result
    refused: str | None = None  # a refusal whose reason holds this
    note: str | None = None  # a line the job's history must hold
    pages: int = 1
    straight: bool = True  # never turned before reading
    tags: tuple[str, ...] = field(default=())


def lines(seed: int, count: int, words: int = 5) -> tuple[str, ...]:
    return tuple(samples.sample_lines(seed, count, words))


def page(text: tuple[str, ...], width: int, height: int, size: int, left: int = 0) -> Image.Image:
    """A white page of `width` x `height` with `text` in lines of `size` px, Pillow's font."""
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=size)
    step = int(size * 1.9)
    for index, line in enumerate(text):
        draw.text((left or width // 12, size + index * step), line, fill=0, font=font)
    return image


def a4(text: tuple[str, ...], dpi: int = 150) -> Image.Image:
    scale = dpi / 150
    return page(text, int(1240 * scale), int(1754 * scale), int(28 * scale))


def encode(image: Image.Image, kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


# --- PDFs written by hand: born-digital text, odd structures -------------------------------
def pdf(objects: list[bytes], trailer: bytes = b"", shift_xref: int = 0) -> bytes:
    """A PDF of `objects` (numbered from 1; 1 is the catalog). `shift_xref` moves every
    offset of the cross-reference table: a broken table, as some scanner software writes."""
    out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    table = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % (offset + shift_xref) for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\n" % (len(objects) + 1, trailer)
    return out + b"startxref\n%d\n%%%%EOF\n" % (table + shift_xref)


def stream(data: bytes, dictionary: bytes = b"") -> bytes:
    return b"<< %s/Length %d >>\nstream\n" % (dictionary, len(data)) + data + b"\nendstream"


def text_pdf(
    text: tuple[str, ...],
    width: float = 595,
    height: float = 842,
    size: float = 14,
    shift_xref: int = 0,
    contents: bool = True,
    trailer: bytes = b"",
    extra: list[bytes] | None = None,
    catalog: bytes = b"",
) -> bytes:
    """A born-digital page: `text` in Helvetica (a standard font: nothing embedded)."""
    body = b"BT /F1 %g Tf %g TL %g %g Td " % (size, size * 1.8, size * 3, height - size * 4)
    body += b" ".join(b"(%s) Tj T*" % line.encode("latin-1") for line in text) + b" ET"
    page_dict = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] " % (width, height)
    page_dict += b"/Resources << /Font << /F1 4 0 R >> >> "
    page_dict += b"/Contents 5 0 R >>" if contents else b">>"
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R %s>>" % catalog,
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            page_dict,
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            stream(zlib.compress(body), b"/Filter /FlateDecode "),
            *(extra or []),
        ],
        trailer,
        shift_xref,
    )


def type3_unmapped_pdf(text: tuple[str, ...], codes: bytes = bytes(range(1, 30))) -> bytes:
    """A born-digital page with `text` in Helvetica above a line in a Type 3 font with no
    ToUnicode map, as OCRmyPDF's type3_font_nomapping.pdf: each glyph a filled box, its
    codes control characters, which is what a text layer then yields for it."""
    glyph = stream(b"1000 0 0 0 750 750 d1 0 0 750 750 re f")
    body = b"BT /F1 14 Tf 25.2 TL 42 786 Td "
    body += b" ".join(b"(%s) Tj T*" % line.encode("latin-1") for line in text) + b" ET "
    body += (
        b"BT /F2 24 Tf 42 %d Td (" % (760 - 26 * len(text))
        + b"".join(b"\\%03o" % code for code in codes)
        + b") Tj ET"
    )
    font = b"<< /Type /Font /Subtype /Type3 /FontBBox [0 0 750 750] "
    font += b"/FontMatrix [0.001 0 0 0.001 0 0] /CharProcs 7 0 R "
    font += b"/Encoding << /Type /Encoding /Differences [%d %s] >> " % (
        codes[0],
        b" ".join(b"/g%d" % code for code in codes),
    )
    font += b"/FirstChar %d /LastChar %d /Widths [%s] >>" % (
        codes[0],
        codes[-1],
        b" ".join(b"1000" for _ in codes),
    )
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 4 0 R /F2 6 0 R >> >> /Contents 5 0 R >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            stream(body),
            font,
            b"<< %s >>" % b" ".join(b"/g%d 8 0 R" % code for code in codes),
            glyph,
        ]
    )


def encrypted_pdf(text: tuple[str, ...]) -> bytes:
    """Encrypted with a user password (the standard handler, revision 2): no reader opens it
    without the password."""
    rng = random.Random(7)
    o, u = rng.randbytes(32).hex().encode(), rng.randbytes(32).hex().encode()
    identifier = rng.randbytes(16).hex().encode()
    encrypt = b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P -44 >>" % (o, u)
    return text_pdf(
        text,
        trailer=b"/Encrypt 6 0 R /ID [<%s> <%s>] " % (identifier, identifier),
        extra=[encrypt],
    )


def embedded_font_pdf(text: tuple[str, ...]) -> bytes:
    """Born-digital text in a TrueType font embedded as a CID font (Type0, Identity-H), as
    office software writes it; made with PDFium's own page-editing API."""
    import ctypes

    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    font = samples.DEJAVU_SANS.read_bytes()
    document = pdfium.PdfDocument.new()
    try:
        page = document.new_page(595, 842)
        data = (ctypes.c_uint8 * len(font)).from_buffer_copy(font)
        handle = pdfium_c.FPDFText_LoadFont(
            document.raw, data, len(font), pdfium_c.FPDF_FONT_TRUETYPE, 1
        )
        for index, line in enumerate(text):
            item = pdfium_c.FPDFPageObj_CreateTextObj(document.raw, handle, 14.0)
            wide = ctypes.create_string_buffer((line + "\0").encode("utf-16-le"))
            pdfium_c.FPDFText_SetText(item, ctypes.cast(wide, ctypes.POINTER(pdfium_c.FPDF_WCHAR)))
            pdfium_c.FPDFPageObj_Transform(item, 1, 0, 0, 1, 56, 770 - index * 26)
            pdfium_c.FPDFPage_InsertObject(page.raw, item)
        pdfium_c.FPDFPage_GenerateContent(page.raw)
        out = io.BytesIO()
        document.save(out)
        return out.getvalue()
    finally:
        document.close()


def xfa_pdf(text: tuple[str, ...]) -> bytes:
    """A form with an XFA part (as Adobe's designer writes them) beside its page content."""
    xfa = b'<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/"><template/></xdp:xdp>'
    return text_pdf(
        text,
        extra=[stream(xfa)],
        catalog=b"/AcroForm << /Fields [] /XFA 6 0 R >> /NeedsRendering false ",
    )


def jpx_pdf(image: Image.Image, dpi: int) -> bytes:
    """A scan held as JPEG 2000 (JPXDecode), as some archive software writes."""
    data = encode(image, "JPEG2000")
    width, height = image.width * 72 / dpi, image.height * 72 / dpi
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] "
            b"/Resources << /XObject << /Im1 4 0 R >> >> /Contents 5 0 R >>" % (width, height),
            stream(
                data,
                b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                b"/BitsPerComponent 8 /Filter /JPXDecode " % image.size,
            ),
            stream(b"q %g 0 0 %g 0 0 cm /Im1 Do Q" % (width, height)),
        ]
    )


def jbig2_pdf(image: Image.Image, dpi: int) -> bytes:
    """A 1-bit scan held as JBIG2 (JBIG2Decode), as scanner software compresses bitonal
    pages: a page information segment and one immediate lossless generic region, coded MMR
    (its data is CCITT G4, here Pillow's, of the bitmap in JBIG2's polarity: 1 is black)."""
    bitmap = ImageOps.invert(image.convert("L")).convert("1")  # TIFF codes 0 as black here
    tiff = io.BytesIO()
    strip = TiffImagePlugin.STRIP_SIZE
    TiffImagePlugin.STRIP_SIZE = 1 << 30  # one strip: one G4 run over the whole page
    try:
        bitmap.save(tiff, "TIFF", compression="group4")
    finally:
        TiffImagePlugin.STRIP_SIZE = strip
    with Image.open(tiff) as coded:
        (offset,), (length,) = coded.tag_v2[273], coded.tag_v2[279]
    g4 = tiff.getvalue()[offset : offset + length]

    def segment(number: int, kind: int, data: bytes) -> bytes:
        return struct.pack(">IBBBI", number, kind, 0, 1, len(data)) + data

    width, height = image.size
    page_information = struct.pack(">IIIIBH", width, height, 0, 0, 0, 0)
    region = struct.pack(">IIIIB", width, height, 0, 0, 0) + b"\x01" + g4  # MMR
    data = segment(0, 48, page_information) + segment(1, 39, region)
    points = (width * 72 / dpi, height * 72 / dpi)
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] "
            b"/Resources << /XObject << /Im1 4 0 R >> >> /Contents 5 0 R >>" % points,
            stream(
                data,
                b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                b"/BitsPerComponent 1 /Filter /JBIG2Decode " % image.size,
            ),
            stream(b"q %g 0 0 %g 0 0 cm /Im1 Do Q" % points),
        ]
    )


def image_pdf(images: list[Image.Image], dpi: int) -> bytes:
    """Pages as a scanner's software writes them (Pillow: JPEG, or CCITT G4 for 1-bit)."""
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=dpi)
    return out.getvalue()


# --- the shapes ----------------------------------------------------------------------------
TEXT = lines(11, 12)
SHORT = lines(12, 2, 3)
RECEIPT = lines(13, 24, 2)
CARD = lines(14, 5, 3)
WIDE = lines(15, 3, 6)
BORN = lines(16, 10, 6)


def _separator() -> bytes:
    first, second = a4(TEXT[:6]).convert("RGB"), a4(TEXT[6:]).convert("RGB")
    return image_pdf([first, Image.new("RGB", first.size, "white"), second], 150)


def _cmyk() -> bytes:
    return encode(a4(TEXT).convert("CMYK"), "JPEG", quality=92, dpi=(150, 150))


def _palette() -> bytes:
    return encode(a4(TEXT).convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE), "PNG")


def _alpha() -> bytes:
    ink = a4(TEXT)
    transparent = Image.new("RGBA", ink.size, (0, 0, 0, 0))
    transparent.putalpha(Image.eval(ink, lambda value: 255 - value))  # black where the ink is
    return encode(transparent, "PNG")


def _sixteen_bit() -> bytes:
    return encode(a4(TEXT).convert("I").point(lambda value: value * 257).convert("I;16"), "PNG")


def _wide() -> bytes:
    """A 30000 px wide 1-bit page (CCITT G4 in a PDF): 100 inches at 300 dpi."""
    strip = page(WIDE, 30000, 900, 80, left=400).convert("1")
    return image_pdf([strip], 300)


def _truncated() -> bytes:
    whole = encode(a4(TEXT), "PNG")
    return whole[: len(whole) // 2]


def _bomb() -> bytes:
    """144 Mpx of nearly nothing: a few hundred bytes as PNG."""
    return encode(Image.new("1", (12000, 12000), 1), "PNG")


def _over_budget() -> bytes:
    """A 75 Mpx scan: over the default page budget of 70 Mpx, under twice it."""
    return encode(page(TEXT[:4], 7500, 10000, 150), "PNG", compress_level=1)


def _skewed(angle: float) -> Callable[[], bytes]:
    return lambda: encode(a4(TEXT).rotate(angle, expand=True, fillcolor=255), "PNG")


def _turned(angle: int) -> Callable[[], bytes]:
    return lambda: encode(a4(TEXT).rotate(angle, expand=True), "PNG")


SHAPES: tuple[Shape, ...] = (
    Shape("blank.png", lambda: encode(Image.new("L", (1240, 1754), 255), "PNG")),
    Shape("separator.pdf", _separator, TEXT, pages=3),
    Shape("label.png", lambda: encode(page(SHORT, 760, 148, 36, left=20), "PNG"), SHORT),
    Shape("receipt.png", lambda: encode(page(RECEIPT, 420, 2000, 24, left=20), "PNG"), RECEIPT),
    Shape(
        "card.jpg",
        lambda: encode(page(CARD, 1050, 600, 40, left=60).convert("RGB"), "JPEG", quality=90),
        CARD,
    ),
    Shape("a4-150.png", lambda: encode(a4(TEXT), "PNG", dpi=(150, 150)), TEXT),
    Shape("a4-300.tif", lambda: encode(a4(TEXT, 300), "TIFF", dpi=(300, 300)), TEXT),
    Shape("a4-600.png", lambda: encode(a4(TEXT, 600), "PNG", dpi=(600, 600)), TEXT),
    Shape("a3.pdf", lambda: image_pdf([page(TEXT, 1754, 2480, 28).convert("RGB")], 150), TEXT),
    Shape("wide-30000px.pdf", _wide, WIDE, tags=("ccitt",)),
    Shape(
        "page-100in.pdf",
        lambda: text_pdf(WIDE[:1], 7200, 7200, 160),
        WIDE[:1],
        note="rendered at 83 dpi instead of 150",
    ),
    Shape(
        "page-200in.pdf",
        lambda: text_pdf(WIDE[:1], 14400, 14400, 200),
        refused="even at 72 dpi it is over the page budget of 70 Mpx",
    ),
    Shape(
        "ccitt.tif",
        lambda: encode(a4(TEXT, 300).convert("1"), "TIFF", compression="group4", dpi=(300, 300)),
        TEXT,
        tags=("ccitt",),
    ),
    Shape("cmyk.jpg", _cmyk, TEXT),
    Shape("palette.png", _palette, TEXT),
    Shape("alpha.png", _alpha, TEXT),
    Shape("16-bit.png", _sixteen_bit, TEXT),
    Shape("jpeg2000.pdf", lambda: jpx_pdf(a4(TEXT), 150), TEXT),
    Shape("jbig2.pdf", lambda: jbig2_pdf(a4(TEXT, 300), 300), TEXT, tags=("jbig2",)),
    Shape("no-contents.pdf", lambda: text_pdf(BORN, contents=False)),
    Shape("broken-xref.pdf", lambda: text_pdf(BORN, shift_xref=37), BORN),
    Shape("tiny.pdf", lambda: text_pdf(BORN[:2]), BORN[:2]),
    Shape("xfa-form.pdf", lambda: xfa_pdf(BORN), BORN),
    Shape("embedded-font.pdf", lambda: embedded_font_pdf(BORN), BORN),
    Shape("encrypted.pdf", lambda: encrypted_pdf(BORN), refused="encrypted with a password"),
    Shape("turned-90.png", _turned(90), TEXT),
    Shape("turned-180.png", _turned(180), TEXT),
    Shape("turned-270.png", _turned(270), TEXT),
    Shape("skewed-8.png", _skewed(-8), TEXT, note="straightened by +8.0", straight=False),
    Shape("skewed-3.png", _skewed(-3), TEXT, note="straightened by +3.0", straight=False),
    Shape("skewed+3.png", _skewed(3), TEXT, note="straightened by -3.0", straight=False),
    Shape("skewed+8.png", _skewed(8), TEXT, note="straightened by -8.0", straight=False),
    Shape("truncated.png", _truncated, refused="unreadable image"),
    Shape("bomb.png", _bomb, refused="over twice the page budget of 70 Mpx"),
    Shape(
        "over-budget.png",
        _over_budget,
        TEXT[:4],
        note="scaled from 7500 x 10000 to 7245 x 9660 px",
    ),
)
