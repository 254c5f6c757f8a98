"""The built-in OCR robot: watches a profile's input folder, recognises documents with
Tesseract and writes the result (ALTO, hOCR, text or searchable PDF) into the output folder."""
