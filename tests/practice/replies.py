"""Model replies used across the practice tests (CFO discovery scenario)."""

GOOD_ROI = ("That's fair: if the process works, changing it has to pay for itself. How many days "
            "does your month-end close take today? Finance teams your size save about 30 hours a "
            "month, and a logistics company like yours closed four days faster. Would that be "
            "worth a closer look before your audit?")
WEAK_ROI = "Um, I think maybe it could help, we are basically a good product."
GOOD_SPRAWL = ("I understand, consolidating vendors is the right instinct. It syncs natively with "
               "NetSuite and most teams retire their expense spreadsheets. Does that change the "
               "picture?")
GOOD_CLOSE = ("Thanks for your time. Let's schedule a 45-minute session with your controller next "
              "Tuesday. Does 10am work?")
