from hub.domain.relatives import MAX_RELATIVES, family_of, relatives


def test_a_family_is_the_agencys_own_grouping() -> None:
    assert family_of("dtks_individual", "IDBDT1", "3314010101200001") == \
        ("dtks_individual", "IDBDT1")
    assert family_of("dukcapil", None, "3314010101200001") == ("dukcapil", "3314010101200001")
    assert family_of("bpjs", None, None) is None


def test_relatives_are_the_other_members_names() -> None:
    k1, k2 = ("dukcapil", "K1"), ("dukcapil", "K2")
    found = relatives([k1, k1, k1, k2, None], ["SLAMET", "SRIUAHIUNI", "BUDI", "SLAMET", "ANI"])
    assert found == ["BUDI SRIUAHIUNI", "BUDI SLAMET", "SLAMET SRIUAHIUNI",
                     None,   # alone in its family
                     None]   # no family given


def test_the_same_number_in_two_agencies_is_two_families() -> None:
    assert relatives([("dukcapil", "K"), ("education", "K")], ["SITI", "AMIR"]) == [None, None]


def test_a_name_two_records_share_is_a_relative_of_both() -> None:
    """A person entered twice in one household: each entry sees the other."""
    f = ("dtks_individual", "H")
    assert relatives([f, f, f], ["SITI", "SITI", "AMIR"]) == ["AMIR SITI", "AMIR SITI", "SITI"]


def test_a_crowded_dwelling_lists_a_bounded_number() -> None:
    size = MAX_RELATIVES + 5
    found = relatives([("dtks_individual", "H")] * size, [f"NAME{i:02d}" for i in range(size)])
    assert all(value is not None and len(value.split()) == MAX_RELATIVES for value in found)
