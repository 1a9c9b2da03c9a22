"""Why the network does what it does, computed without a window: the views in gui/ only draw these."""
