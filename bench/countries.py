"""The countries of the synthetic SSI network: ISO 3166 alpha-3 code, French name, continent.

Codes are those of the EU country authority table
(http://publications.europa.eu/resource/authority/country/), as in the real data.
"""

_TABLE = """
AFG Afghanistan AS|ZAF Afrique du Sud AF|ALB Albanie EU|DZA Algérie AF|DEU Allemagne EU|AGO Angola AF|
SAU Arabie saoudite AS|ARG Argentine AM|ARM Arménie AS|AUS Australie OC|AUT Autriche EU|AZE Azerbaïdjan AS|
BHR Bahreïn AS|BGD Bangladesh AS|BEL Belgique EU|BEN Bénin AF|BLR Biélorussie EU|BOL Bolivie AM|
BIH Bosnie-Herzégovine EU|BWA Botswana AF|BRA Brésil AM|BGR Bulgarie EU|BFA Burkina Faso AF|BDI Burundi AF|
KHM Cambodge AS|CMR Cameroun AF|CAN Canada AM|CPV Cap-Vert AF|CHL Chili AM|CHN Chine AS|CYP Chypre EU|
COL Colombie AM|COM Comores AF|COG Congo AF|KOR Corée du Sud AS|CRI Costa Rica AM|CIV Côte d’Ivoire AF|
HRV Croatie EU|CUB Cuba AM|DNK Danemark EU|DJI Djibouti AF|DOM République dominicaine AM|EGY Égypte AF|
ARE Émirats arabes unis AS|ECU Équateur AM|ERI Érythrée AF|ESP Espagne EU|EST Estonie EU|USA États-Unis AM|
ETH Éthiopie AF|FJI Fidji OC|FIN Finlande EU|GAB Gabon AF|GMB Gambie AF|GEO Géorgie AS|GHA Ghana AF|
GRC Grèce EU|GTM Guatemala AM|GIN Guinée AF|GNQ Guinée équatoriale AF|GNB Guinée-Bissau AF|HTI Haïti AM|
HND Honduras AM|HUN Hongrie EU|IND Inde AS|IDN Indonésie AS|IRQ Irak AS|IRN Iran AS|IRL Irlande EU|
ISL Islande EU|ISR Israël AS|ITA Italie EU|JAM Jamaïque AM|JPN Japon AS|JOR Jordanie AS|KAZ Kazakhstan AS|
KEN Kenya AF|KGZ Kirghizistan AS|KWT Koweït AS|LAO Laos AS|LVA Lettonie EU|LBN Liban AS|LBR Liberia AF|
LBY Libye AF|LTU Lituanie EU|LUX Luxembourg EU|MKD Macédoine du Nord EU|MDG Madagascar AF|MYS Malaisie AS|
MWI Malawi AF|MLI Mali AF|MLT Malte EU|MAR Maroc AF|MUS Maurice AF|MRT Mauritanie AF|MEX Mexique AM|
MDA Moldavie EU|MCO Monaco EU|MNG Mongolie AS|MNE Monténégro EU|MOZ Mozambique AF|MMR Birmanie AS|
NAM Namibie AF|NPL Népal AS|NIC Nicaragua AM|NER Niger AF|NGA Nigeria AF|NOR Norvège EU|NZL Nouvelle-Zélande OC|
OMN Oman AS|UGA Ouganda AF|UZB Ouzbékistan AS|PAK Pakistan AS|PAN Panama AM|PNG Papouasie-Nouvelle-Guinée OC|
PRY Paraguay AM|NLD Pays-Bas EU|PER Pérou AM|PHL Philippines AS|POL Pologne EU|PRT Portugal EU|QAT Qatar AS|
CAF République centrafricaine AF|COD République démocratique du Congo AF|CZE Tchéquie EU|ROU Roumanie EU|
GBR Royaume-Uni EU|RUS Russie EU|RWA Rwanda AF|SLV Salvador AM|SEN Sénégal AF|SRB Serbie EU|SYC Seychelles AF|
SLE Sierra Leone AF|SGP Singapour AS|SVK Slovaquie EU|SVN Slovénie EU|SOM Somalie AF|SDN Soudan AF|
LKA Sri Lanka AS|SWE Suède EU|CHE Suisse EU|SUR Suriname AM|TJK Tadjikistan AS|TZA Tanzanie AF|TCD Tchad AF|
THA Thaïlande AS|TGO Togo AF|TTO Trinité-et-Tobago AM|TUN Tunisie AF|TKM Turkménistan AS|TUR Turquie AS|
UKR Ukraine EU|URY Uruguay AM|VUT Vanuatu OC|VEN Venezuela AM|VNM Viêt Nam AS|YEM Yémen AS|ZMB Zambie AF|
ZWE Zimbabwe AF
"""

CONTINENTS = {"AF": "Afrique", "AM": "Amériques", "AS": "Asie", "EU": "Europe", "OC": "Océanie"}


def _parse() -> list[tuple[str, str, str]]:
    rows = []
    for entry in _TABLE.replace("\n", "").split("|"):
        code, rest = entry.strip().split(" ", 1)
        name, continent = rest.rsplit(" ", 1)
        rows.append((code, name, continent))
    return rows


COUNTRIES: list[tuple[str, str, str]] = _parse()
