// The relay dashboard (issue 12): placeholder until the page lands.
