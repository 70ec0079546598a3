"""Word lists the rules teacher reads: stop words and boilerplate vocabulary, many languages.

Stop words mark prose (jusText's signal: running text is full of function words; menus and
link lists are not). Boilerplate phrases mark navigation, consent, sharing, account and legal
lines. The lists are short on purpose: frequent words only, no page-specific strings.
"""

from __future__ import annotations

import re

STOP_WORDS = frozenset(
    # en
    "a about after all also an and any are as at be because been but by can could did do does "
    "for from had has have he her his how i if in into is it its just more most my no not of on "
    "one only or other our out she so some such than that the their them then there these they "
    "this to up was we were what when which who will with would you your "
    # de
    "aber als am auch auf aus bei bis das dass dem den der des die doch durch ein eine einem einen "
    "einer es für hat ich ihr im ist kann mit nach nicht noch nur oder sich sie sind so über um "
    "und uns vom von vor war wenn werden wie wir wird zu zum zur "
    # fr
    "au aux avec ce ces cette dans de des du elle en est et il ils je la le les leur mais ne nous "
    "on ou par pas plus pour qu que qui sa se ses son sont sur un une vous été être "
    # es / pt / it (shared forms listed once)
    "al como con del el ella en entre es esta este hay las lo los más muy no para pero por que se "
    "sin sobre su sus también una uno y ao às como com da das do dos é em foi isso mais mas na nas "
    "no nos o os para pela pelo por que se sem seu sua um uma ai alla anche che chi come con dei "
    "della delle di gli ha il nel nella non per più si sono tra una "
    # nl / scandinavian
    "als bij dat de die een en er het in is met niet of om op te van voor was wat zijn "
    "af att den det en er et for har i ikke jeg med og om på som til var är och "
    # pl / cs / ru / uk
    "ale co do i jak jest na nie o od po się to w z za że je se ve že "
    "в и на не что с по это как из но к у от для о а то же за так все его ее она он они "
    # tr / id / fi
    "bir bu da de için ile ve çok dan dengan di ini itu untuk yang dalam tidak "
    "ja on ei se että oli hän mutta kuin myös "
    # ar / fa
    "في من على إلى الى أن عن مع هذا هذه التي الذي ما لا كان و به از را که این با برای "
    # el / hi
    "και το η να του της με σε για που από είναι "
    "का की के है में और से को यह एक"
    .split()
)  # fmt: skip

# Phrases that mark a whole line as page furniture when the line is short.
_SHORT_BOILERPLATE = [
    # navigation and structure
    r"skip to (main )?content", r"skip navigation", r"main (menu|navigation)", r"breadcrumbs?",
    r"back to top", r"table of contents", r"previous (post|article|page)", r"next (post|article|page)",
    r"(read|see|view|show|load) (more|all|less)", r"continue reading", r"more (news|stories|articles)",
    r"related (posts?|articles?|stories|content|products|links|topics|videos)", r"you may also like",
    r"recommended (for you|stories|articles)", r"(most )?popular (posts|articles|stories)",
    r"trending( now)?", r"latest (news|posts|articles|stories)", r"recent (posts|comments)",
    r"(you|you'll) (might|may) also (like|enjoy)", r"explore further", r"sharing is caring",
    r"other interesting", r"more (from|on|about) (this|the)", r"further reading", r"see also",
    r"ähnliche (beiträge|artikel|themen)", r"schon gelesen", r"mehr zum thema", r"meistgelesen\w*",
    r"auch interessant", r"das könnte (sie|dich) (auch )?interessieren", r"weitere (artikel|beiträge|themen)",
    r"también te puede interesar", r"te puede interesar", r"noticias relacionadas", r"etiquetas",
    r"lee también", r"vous aimerez (aussi|peut-être)", r"à lire (aussi|également)", r"sur le même sujet",
    r"zobacz (również|też|także)", r"czytaj także", r"powiązane", r"potrebbe interessarti",
    r"leggi anche", r"articoli correlati", r"veja também", r"leia também", r"lees ook",
    r"gerelateerde artikelen", r"читайте также", r"похожие (статьи|новости)",
    r"^(home|menu|search|close|open|next|previous|prev|more|top|sitemap|site map|navigation)$",
    r"^(tags?|categories|category|topics|archives?|filed under|labels?)\s*:?",
    r"^(loading|please wait|chargement|cargando|carregando|caricamento|wird geladen|загрузка)\W*$", r"^page \d+ of \d+$",
    # account, commerce chrome
    r"\b(sign|log) ?(in|up|out)\b", r"\bregister\b", r"my account", r"create (an )?account",
    r"forgot (your )?password", r"add to (cart|basket|wishlist|wish list)", r"shopping (cart|bag)",
    r"(view|your) (cart|basket)", r"checkout", r"free shipping", r"\bwishlist\b",
    # sharing and social
    r"^share\b", r"share (this|on|via)", r"\b(tweet|pin it|whatsapp|linkedin|facebook|twitter|instagram|pinterest|youtube|tiktok|reddit|telegram)\b",
    r"follow us", r"\bemail (this|to a friend)\b", r"\bprint (this )?(page|article)?$", r"copy (the )?link",
    # subscription, comments
    r"subscribe", r"newsletters?", r"sign up for", r"leave a (reply|comment)", r"post a comment",
    r"\d+ comments?$", r"no comments", r"^comments?$", r"^reply$", r"^quote$", r"^report$", r"^like$",
    r"your email address will not be published", r"required fields are marked",
    # legal
    r"privacy( policy| notice| settings| statement)?", r"terms (of|and) (use|service|conditions)",
    r"cookies?", r"all rights reserved", r"©|\(c\) ?\d{4}|copyright", r"\bimprint\b|\bimpressum\b",
    r"disclaimer", r"accessibility", r"contact us", r"about us", r"\bfaq\b",
    r"advertisement|sponsored|\bads? by\b|advertis(e|ing) with us", r"powered by",
    # de
    r"zum inhalt (springen|wechseln)", r"datenschutz", r"nutzungsbedingungen", r"\bagb\b", r"anmelden",
    r"abmelden", r"registrieren", r"teilen", r"weiterlesen", r"mehr (lesen|erfahren|anzeigen)",
    r"kontakt", r"warenkorb", r"alle rechte vorbehalten", r"anzeige", r"startseite", r"suche",
    r"kommentare?", r"verwandte artikel", r"das könnte sie auch interessieren",
    # fr
    r"aller au contenu", r"politique de confidentialité", r"mentions légales", r"se connecter",
    r"connexion", r"s'inscrire|inscription", r"partager", r"lire (la )?suite", r"en savoir plus",
    r"tous droits réservés", r"publicité", r"accueil", r"rechercher", r"panier",
    r"articles similaires", r"à lire aussi", r"abonnez-vous", r"commentaires?",
    # es / pt / it
    r"saltar al contenido", r"política de privacidad", r"aviso legal", r"iniciar sesión",
    r"registrarse", r"compartir", r"leer más", r"todos los derechos reservados", r"publicidad",
    r"inicio", r"buscar", r"carrito", r"suscríbete", r"comentarios?",
    r"pular para o conteúdo", r"política de privacidade", r"entrar", r"compartilhar", r"leia mais",
    r"todos os direitos reservados", r"publicidade", r"assine", r"carrinho",
    r"vai al contenuto", r"informativa (sulla )?privacy", r"accedi", r"condividi", r"leggi (di )?più",
    r"tutti i diritti riservati", r"pubblicità", r"cerca", r"carrello", r"iscriviti", r"commenti",
    # nl / pl / ru
    r"naar (de )?inhoud", r"inloggen", r"delen", r"lees meer", r"alle rechten voorbehouden",
    r"winkelwagen", r"przejdź do treści", r"zaloguj", r"udostępnij", r"czytaj (więcej|dalej)",
    r"wszelkie prawa zastrzeżone", r"reklama", r"koszyk", r"komentarze",
    r"перейти к содержимому", r"войти", r"регистрация", r"поделиться", r"читать (далее|еще|ещё)",
    r"все права защищены", r"реклама", r"политика конфиденциальности", r"корзина", r"комментари\w*",
    # ja / zh (common menu words)
    r"ログイン", r"会員登録", r"お問い合わせ", r"プライバシーポリシー", r"利用規約", r"シェア",
    r"登录", r"注册", r"首页", r"隐私政策", r"版权所有", r"分享", r"联系我们",
]  # fmt: skip

# Sentences that are boilerplate whatever their length (consent, affiliate, legal notices).
_LONG_BOILERPLATE = [
    r"\bcookies?\b.{0,80}\b(consent|accept|agree|policy|settings|preferences|experience|browser|(web)?site|function properly)\b",
    r"\b(we|this (web)?site) uses? cookies\b", r"all rights reserved", r"alle rechte vorbehalten",
    r"tous droits réservés", r"todos los derechos reservados", r"tutti i diritti riservati",
    r"your email address will not be published", r"required fields are marked",
    r"we may earn (a )?(small )?commission", r"affiliate (links?|commission)",
    r"(please )?(enable|turn on) javascript|javascript (is )?(disabled|required)",
    r"your browser (is out of date|does not support|is not supported)",
    r"(sign|signing) up (for|to) (our|the) newsletter|subscribe to (our|the) newsletter",
    r"by (clicking|continuing|using this (web)?site|subscribing)\b.{0,60}\b(agree|accept|consent)",
    r"(verwendet|nutzt|verwenden) cookies", r"utilise des cookies|utilisons des cookies",
    r"utiliza(mos)? cookies", r"utilizza(mo)? (i )?cookie", r"maakt gebruik van cookies",
    r"używa(my)? (plików )?cookies", r"использует (файлы )?cookie",
    r"this (article|post|page) (may )?contains? affiliate", r"^advertisement\b",
]  # fmt: skip

# The patterns are matched against lower-cased lines.
SHORT_BOILERPLATE = re.compile(
    r"(?<!\w)(?:" + "|".join(f"(?:{p})" for p in _SHORT_BOILERPLATE) + r")(?!\w)"
)
LONG_BOILERPLATE = re.compile("|".join(f"(?:{p})" for p in _LONG_BOILERPLATE))
# Every long pattern contains one of these literals: a cheap search skips the big regex.
LONG_TRIGGERS = re.compile(
    "cookie|reserv|vorbehalten|réservés|email address|required fields|commission|affiliate"
    "|javascript|your browser|newsletter|agree|accept|consent|advertisement"
)

# Stray fragments inside otherwise good lines: (pattern, why). Removed with ``normalize``.
STRAY_FRAGMENTS = [
    (re.compile(r"\[(edit|edit source|citation needed|bearbeiten|modifier|editar)\]", re.I), "edit_marker"),
    (re.compile(r"\s*\((opens|open) in (a )?new (tab|window)\)", re.I), "new_tab_marker"),
    (re.compile(r"\s*(Read more|Continue reading|Weiterlesen|Lire la suite|Leer más|Leia mais)\s*[»›→…]+\s*$", re.I), "read_more"),
    (re.compile(r"^(Advertisement|ADVERTISEMENT|Anzeige|Publicité)\s+(?=\S)"), "ad_label"),
]  # fmt: skip

# Headings that end an article: what follows is comments, teasers or promotions.
_TAIL_MARKERS = [
    r"(\d+\s+)?(comments|kommentare?|commentaires?|comentarios?|commenti|comentários|komentarze?|reacties|комментари\w*)(\s*\(\d+\))?",
    r"(leave|post|add|write|submit) (a|your) (reply|comment|review)", r"reader interactions",
    r"join the (discussion|conversation)", r"comments are closed", r"trackbacks?( and pingbacks)?",
    r"related (posts?|articles?|stories|content|reading)", r"(you|you'll) (might|may) also (like|enjoy)",
    r"more (stories|articles|posts) (from|like this)", r"recommended (for you|stories|articles|reading)",
    r"popular (posts|articles|stories)",
    r"kommentar (schreiben|verfassen)", r"ähnliche (beiträge|artikel)", r"das könnte (sie|dich) (auch )?interessieren",
    r"laisser un commentaire", r"articles similaires", r"à lire aussi", r"deja (un|tu) comentario",
    r"también te puede interesar", r"noticias relacionadas", r"lascia un commento", r"articoli correlati",
    r"deixe (um|seu) comentário", r"veja também", r"zostaw komentarz", r"zobacz (również|też|także)",
    r"читайте также", r"оставить комментарий", r"похожие (статьи|новости)",
]  # fmt: skip
TAIL_MARKER = re.compile(r"^(?:" + "|".join(f"(?:{p})" for p in _TAIL_MARKERS) + r")\s*[:.!…]*$")

# Photo captions' credits and image sources: a line carrying one is a caption, not text.
CAPTION_CREDIT = re.compile(
    r"\b(photo|image|picture|credit|foto|bild|quelle|crédit|fuente|źródło|фото)s?\s*:\s*\S"
    r"|getty ?images|shutterstock|istock|adobe stock|\(ap photo|/ ?reuters\b|/ ?afp\b|/ ?dpa\b"
)
