import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lzstring import LZString

from hub.codecs.lz import LZError, decompress_from_encoded_uri_component

# JavaScript's LZ-string works on UTF-16 units; the lzstring package (our reference for
# the compressing side) handles only the Basic Multilingual Plane.
bmp_text = st.text(alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]),
                   max_size=300)


@settings(max_examples=300)
@given(bmp_text)
def test_decodes_what_the_lzstring_package_encodes(text):
    encoded = LZString().compressToEncodedURIComponent(text)
    assert decompress_from_encoded_uri_component(encoded) == text


def test_a_real_vclaim_sized_payload():
    text = '{"list":[' + ",".join(
        f'{{"noKartu":"000{i:010d}","nama":"SITI AMINAH {i}","sex":"P"}}' for i in range(500)
    ) + "]}"
    encoded = LZString().compressToEncodedURIComponent(text)
    assert decompress_from_encoded_uri_component(encoded) == text


@pytest.mark.parametrize("bad", ["!!!!", "A", "BAAAAAA"])
def test_garbage_is_an_error_not_a_wrong_answer(bad):
    with pytest.raises(LZError):
        decompress_from_encoded_uri_component(bad)
